-- Run once by the postgres:16 image on an empty data directory (/docker-entrypoint-initdb.d/),
-- as the superuser. One database per service, owned by that service's login role, which may
-- connect to its own database only. Each service's tables are made by its migrations, `visa db upgrade
-- <service>` run as that role (deploy/: a one-shot service or an init container before the service), so
-- each role owns its schema objects and needs nothing more.
--
-- Names are quoted: AUTHORIZATION is a reserved word in PostgreSQL's grammar.
--
-- Development passwords only (documented in deploy/README.md). Production creates the roles with
-- secrets from its vault, e.g. \password "intake" in psql, or ALTER ROLE ... PASSWORD.

CREATE ROLE "intake" LOGIN PASSWORD 'intake-db-dev';
CREATE ROLE "authorization" LOGIN PASSWORD 'authorization-db-dev';
CREATE ROLE "issuance" LOGIN PASSWORD 'issuance-db-dev';

CREATE DATABASE "intake" OWNER "intake";
CREATE DATABASE "authorization" OWNER "authorization";
CREATE DATABASE "issuance" OWNER "issuance";

-- PUBLIC may connect to any database by default: only the owner may here.
REVOKE ALL ON DATABASE "intake" FROM PUBLIC;
REVOKE ALL ON DATABASE "authorization" FROM PUBLIC;
REVOKE ALL ON DATABASE "issuance" FROM PUBLIC;
