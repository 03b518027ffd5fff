"""Hostile input and faults at the three HTTP APIs: no input yields a 5xx, one error body everywhere, an
unreachable database answers 503 with Retry-After, bodies and request rates are bounded, and each service's
OpenAPI document says all of it."""

from __future__ import annotations

import json
import logging
from contextlib import AsyncExitStack

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from services.authorization.app import build as build_authorization
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.models import Auditor, VisaRequest
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.models import Verifier
from services.issuance.settings import IssuanceSettings
from shared.http import is_database_outage
from shared.messaging.outbox import outbox
from tests.support.components import NAMESPACE, NO_REDIS, Service, bearer, start_service
from tests.support.requests import visa_request

JSON = {"Content-Type": "application/json"}


def raw_json(body: object) -> bytes:
    """``body`` as JSON with every non-ASCII character escaped: lone surrogates travel as ``\\ud800``."""
    return json.dumps(body).encode()


def assert_error_body(response: httpx.Response) -> object:
    """The one error shape: ``{"detail": str}`` or ``{"detail": [{"loc", "msg", "type"}, …]}``."""
    body = response.json()
    assert set(body) == {"detail"}, body
    if isinstance(body["detail"], list):
        for entry in body["detail"]:
            assert set(entry) == {"loc", "msg", "type"}, entry
    else:
        assert isinstance(body["detail"], str)
    return body["detail"]


@pytest.fixture
async def services(tmp_path):
    """Builds a service with settings of the test's choosing (its own SQLite file), torn down after."""
    async with AsyncExitStack() as stack:

        async def make(name: str, **settings) -> Service:
            common = {"redis_url": NO_REDIS, "visa_namespace": NAMESPACE} | settings
            database = f"sqlite+aiosqlite:///{tmp_path}/{name}-{len(stack._exit_callbacks)}.db"
            if name == "intake":
                app = build_intake(IntakeSettings(intake_database_url=database, **common))
                stack.push_async_callback(app.state.treaties.aclose)
            elif name == "authorization":
                app = build_authorization(AuthorizationSettings(authorization_database_url=database, **common))
                stack.push_async_callback(app.state.directorate.treaties.aclose)
            else:
                app = build_issuance(IssuanceSettings(issuance_database_url=database, **common))
            return await start_service(stack, app)

        yield make


# ---------------------------------------------------------------------------------------------------------
# 1. No input yields a 5xx: NUL and lone surrogates are refused everywhere, 422 never echoes the input.


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("intake", "GET", "/v1/requests/%00"),
        ("intake", "GET", "/v1/visa-waivers/S%00E?passport_type=DIPLOMATIC"),
        ("authorization", "GET", "/v1/cases/%00"),
        ("authorization", "POST", "/v1/cases/%00/grant"),
        ("issuance", "GET", "/v1/visas/PE%00"),
    ],
)
async def test_a_nul_character_in_a_path_is_refused_with_422(system, sponsor, officer, verifier, service, method, path):
    keys = {"intake": sponsor, "authorization": officer, "issuance": verifier}
    response = await getattr(system, service).http.request(method, path, headers=keys[service])

    assert response.status_code == 422
    assert assert_error_body(response) == [
        {"loc": ["path"], "msg": "NUL character (U+0000) is not allowed in the path", "type": "nul_character"}
    ]


async def test_a_nul_character_in_a_query_is_refused_with_422(system, intake):
    auditor = await intake.add_account(Auditor, "ak", name="Contraloría")
    response = await intake.http.get("/v1/audit/requests?after=%00", headers=bearer(auditor))

    assert response.status_code == 422
    assert assert_error_body(response) == [
        {
            "loc": ["query", "after"],
            "msg": "NUL character (U+0000) is not allowed in the query",
            "type": "nul_character",
        }
    ]


async def test_a_nul_character_in_a_revocation_reason_is_refused_and_changes_nothing(system, sponsor, officer):
    request_id = await system.submit(sponsor)
    await system.settle()  # policy auto: granted and issued
    before = await system.authorization.snapshot()

    response = await system.authorization.http.post(
        f"/v1/cases/{request_id}/revoke", json={"reason": "end of\u0000 mission"}, headers=officer
    )

    assert response.status_code == 422
    assert assert_error_body(response) == [
        {"loc": ["body", "reason"], "msg": "NUL character (U+0000) is not allowed in a value", "type": "nul_character"}
    ]
    assert await system.authorization.snapshot() == before


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        # A field that passes validation otherwise (it would reach the database) …
        (lambda b: b.update(function="First\u0000Secretary"), ["body", "function"], "nul_character"),
        (lambda b: b.update(function="First\ud800Secretary"), ["body", "function"], "lone_surrogate"),
        # … and one that fails it (the 422 used to echo the value and fail to encode it: a 500).
        (lambda b: b["principal"].update(nationality="\ud800"), ["body", "principal", "nationality"], "lone_surrogate"),
        (lambda b: b["family"][0].update(surnames="\udfffX"), ["body", "family", 0, "surnames"], "lone_surrogate"),
    ],
    ids=["nul-in-valid-field", "surrogate-in-valid-field", "surrogate-in-invalid-field", "low-surrogate-in-family"],
)
async def test_nul_and_lone_surrogates_in_a_submission_are_refused_and_nothing_is_stored(
    intake, sponsor, change, loc, kind
):
    body = visa_request()
    change(body)
    response = await intake.http.post("/v1/requests", content=raw_json(body), headers=sponsor | JSON)

    assert response.status_code == 422
    [entry] = assert_error_body(response)
    assert entry["loc"] == loc and entry["type"] == kind
    assert await intake.count(VisaRequest.__table__) == 0 and await intake.count(outbox) == 0


@pytest.mark.parametrize("path", ["grant", "deny", "revoke"])
async def test_a_body_that_is_not_utf8_is_a_422_like_any_malformed_body(system, sponsor, officer, path):
    # FastAPI answers such a body with a bare, undocumented 400 (found by tests/fuzz).
    request_id = await system.submit(sponsor)
    response = await system.authorization.http.post(
        f"/v1/cases/{request_id}/{path}", content=b'{"reason": "\xff\xfe"}', headers=officer | JSON
    )

    assert response.status_code == 422
    assert assert_error_body(response) == [
        {"loc": ["body"], "msg": "the body is not UTF-8 text (byte 12)", "type": "invalid_utf8"}
    ]


async def test_a_lone_surrogate_in_a_key_is_refused(system, sponsor, officer):
    request_id = await system.submit(sponsor)
    await system.settle()
    body = b'{"deny": {"\\ud800": "no"}}'
    response = await system.authorization.http.post(
        f"/v1/cases/{request_id}/grant", content=body, headers=officer | JSON
    )

    assert response.status_code == 422
    assert assert_error_body(response) == [
        {"loc": ["body", "deny"], "msg": "lone surrogate (U+D800) is not allowed in a key", "type": "lone_surrogate"}
    ]


async def test_escaped_text_and_surrogate_pairs_are_still_accepted(system, sponsor):
    # Non-ASCII letters escaped, and an emoji as a surrogate pair (one character once decoded).
    raw = raw_json(visa_request(function="Consejero de la Misión 🌐"))
    assert b"\\u00f3" in raw and b"\\ud83c\\udf10" in raw
    response = await system.intake.http.post("/v1/requests", content=raw, headers=sponsor | JSON)

    assert response.status_code == 202, response.text
    [row] = await system.intake.outbox_rows()
    assert "Consejero de la Misión 🌐" == json.loads(row.body)["data"]["function"]


async def test_a_422_names_each_refused_field_without_echoing_its_value(intake, sponsor):
    body = visa_request()
    body["principal"].update(nationality="SE", date_of_birth="born 1974 in Uppsala")
    body["funtion"] = body.pop("function")
    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)

    assert response.status_code == 422
    detail = assert_error_body(response)
    assert {tuple(entry["loc"]) for entry in detail} >= {
        ("body", "principal", "nationality"),
        ("body", "principal", "date_of_birth"),
        ("body", "funtion"),
    }
    assert "Uppsala" not in response.text and '"SE"' not in response.text and '"input"' not in response.text


async def test_a_body_that_is_not_json_is_a_422_without_the_body(intake, sponsor):
    response = await intake.http.post("/v1/requests", content=b'{"surnames": "ERIKSSON", ', headers=sponsor | JSON)

    assert response.status_code == 422
    [entry] = assert_error_body(response)
    assert entry["type"] == "json_invalid" and "ERIKSSON" not in response.text


async def test_every_error_has_the_one_body_shape(system, sponsor):
    intake = system.intake
    answers = {
        401: await intake.http.get("/v1/requests"),
        404: await intake.http.get("/v1/requests/nope", headers=sponsor),
        405: await intake.http.delete("/v1/requests", headers=sponsor),
        422: await intake.http.get("/v1/requests?limit=0", headers=sponsor),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert_error_body(response)


async def test_an_unexpected_failure_is_a_500_with_the_one_body_shape(intake, sponsor, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(intake.app.state.treaties, "current", broken)
    transport = httpx.ASGITransport(app=intake.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/v1/visa-waivers/ALB?passport_type=DIPLOMATIC", headers={"Accept-Language": "en"})

    assert response.status_code == 500
    assert assert_error_body(response) == "internal error"


async def test_an_unexpected_failure_is_logged_without_its_message(intake, sponsor, monkeypatch, caplog):
    # An exception's text can carry what a request held (here a name, as a driver's message quotes a row).
    name, passport = "ZWYR" + "THEIM", "X98" + "76543"  # built at run time: the frames quote source lines

    async def broken(*_args, **_kwargs):
        raise RuntimeError(f"row ({name}, {passport}) violates something")

    monkeypatch.setattr(intake.app.state.treaties, "current", broken)
    with caplog.at_level(logging.DEBUG):
        response = await intake.http.get("/v1/visa-waivers/ALB?passport_type=DIPLOMATIC")

    assert response.status_code == 500 and assert_error_body(response) == "internal error"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /v1/visa-waivers/{nationality} failed with RuntimeError" in logged
    assert "broken" in logged  # where it failed: the frames stay
    assert "ZWYRTHEIM" not in logged and "X9876543" not in logged


# ---------------------------------------------------------------------------------------------------------
# 2. An unreachable database answers 503 with Retry-After and one WARNING line.


def unreachable(service: Service, tmp_path) -> None:
    """Point every session of ``service`` at a database file that cannot be opened."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, so no directory (nor database) can be made under it")
    service.app.state.db.sessions.configure(bind=create_async_engine(f"sqlite+aiosqlite:///{blocked}/gone.db"))


async def test_an_unreachable_database_answers_503_with_retry_after(
    system, sponsor, officer, verifier, tmp_path, caplog
):
    for service in (system.intake, system.authorization, system.issuance):
        unreachable(service, tmp_path)
    caplog.set_level(logging.DEBUG, logger="visa.http")

    answers = [
        await system.intake.http.post("/v1/requests", json=visa_request(), headers=sponsor),
        await system.intake.http.get("/v1/requests/r-1", headers=sponsor),
        await system.authorization.http.post("/v1/cases/r-1/grant", headers=officer),
        await system.issuance.http.get("/v1/visas/PE0000001", headers=verifier),
    ]

    for response in answers:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert "unreachable" in assert_error_body(response)
    warnings = [record for record in caplog.records if record.name == "visa.http"]
    assert len(warnings) == 4 and all(record.levelno == logging.WARNING for record in warnings)
    assert all(record.exc_info is None and "\n" not in record.getMessage() for record in warnings)
    assert "POST /v1/requests answered 503: database unreachable (OperationalError" in warnings[0].getMessage()
    assert "GET /v1/visas/{number} answered 503" in warnings[3].getMessage()
    assert "ERIKSSON" not in caplog.text and "PE0000001" not in caplog.text


async def test_a_refused_connection_answers_503_after_the_configured_delay(services, monkeypatch):
    intake = await services("intake", visa_retry_after_seconds=7)
    key = await intake.add_sponsor()

    def refused(*_args, **_kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(intake.app.state.db, "sessions", refused)
    response = await intake.http.get("/v1/requests", headers=bearer(key))

    assert response.status_code == 503 and response.headers["Retry-After"] == "7"


def test_what_counts_as_a_database_outage():
    import asyncpg.exceptions

    lost = DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    starting = DBAPIError("SELECT 1", {}, Exception("x"))
    starting.orig.__cause__ = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    assert is_database_outage(OperationalError("SELECT 1", {}, Exception("unable to open database file")))
    assert is_database_outage(lost) and is_database_outage(starting)
    assert is_database_outage(ConnectionRefusedError()) and is_database_outage(ConnectionResetError())
    assert not is_database_outage(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_database_outage(DBAPIError("SELECT 1", {}, Exception("syntax")))
    assert not is_database_outage(ValueError("a bug"))


# ---------------------------------------------------------------------------------------------------------
# 4. Limits: body size before the body is read, rate limits per address, per key and per verifier.


async def asgi_call(app, scope_extra: dict, chunks):
    """Call ``app`` as a server would; returns (status, body, how many times the body was read)."""
    reads = 0
    sent: list[dict] = []

    async def receive():
        nonlocal reads
        reads += 1
        chunk, more = chunks(reads)
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/requests",
        "raw_path": b"/v1/requests",
        "query_string": b"",
        "root_path": "",
        "client": ("203.0.113.9", 50000),
        "server": ("test", 80),
    } | scope_extra
    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], json.loads(body), reads


def endless_chunks(n: int) -> tuple[bytes, bool]:
    """64 KiB chunks, as a client streaming a huge body sends them (it gives up after 64 MiB)."""
    return b"x" * 65536, n < 1024


async def test_a_declared_oversized_body_is_refused_before_it_is_read(intake):
    # Unauthenticated, 300 MB announced: answered 413 at once, not read, not even to say 401.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(300 * 2**20).encode()),
        (b"accept-language", b"en"),
    ]
    status, body, reads = await asgi_call(intake.app, {"headers": headers}, endless_chunks)

    assert (status, reads) == (413, 0)
    assert body == {"detail": "request body too large: this service accepts at most 1048576 bytes"}


async def test_a_streamed_body_is_abandoned_at_the_limit(intake):
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    status, body, reads = await asgi_call(intake.app, {"headers": headers}, endless_chunks)

    assert status == 413 and "1048576" in body["detail"]
    assert reads == 2**20 // 65536 + 1  # one chunk past the limit, and not one more


async def test_the_body_limit_is_a_setting(services):
    intake = await services("intake", visa_max_body_bytes=500)
    key = await intake.add_sponsor()
    body = raw_json(visa_request())
    assert len(body) > 500

    response = await intake.http.post("/v1/requests", content=body, headers=bearer(key) | JSON)

    assert response.status_code == 413
    assert assert_error_body(response) == "request body too large: this service accepts at most 500 bytes"


async def test_300_wrong_keys_from_one_address_end_in_429s(intake):
    answers = [(await intake.http.get("/v1/requests", headers=bearer(f"sk_wrong{n}"))) for n in range(300)]

    statuses = [response.status_code for response in answers]
    assert statuses == [401] * 120 + [429] * 180  # VISA_RATE_LIMIT_PER_ADDRESS, 120/minute by default
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert assert_error_body(refused) == (
        f"too many requests: at most 120 per 1 minute per address; retry after {refused.headers['Retry-After']} s"
    )


async def test_a_key_is_limited_on_its_own(services):
    intake = await services("intake", visa_rate_limit_per_key="3/minute", visa_rate_limit_per_address="100/minute")
    first, second = bearer(await intake.add_sponsor()), bearer(await intake.add_sponsor(name="Embassy of Chile"))

    statuses = [(await intake.http.get("/v1/requests", headers=first)).status_code for _ in range(5)]
    other = await intake.http.get("/v1/requests", headers=second)
    probe = [(await intake.http.get("/healthz")).status_code for _ in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    assert other.status_code == 200  # another key of the same address still passes
    assert probe == [200] * 5  # probes are never limited


async def test_an_address_is_limited_whatever_key_it_bears(services):
    intake = await services("intake", visa_rate_limit_per_address="4/minute")
    keys = [bearer(await intake.add_sponsor(name=f"Embassy {n}")) for n in range(6)]

    statuses = [(await intake.http.get("/v1/requests", headers=key)).status_code for key in keys]

    assert statuses == [200] * 4 + [429] * 2


async def test_visa_lookups_are_limited_per_verifier_and_misses_are_logged(services, caplog):
    issuance = await services("issuance", issuance_rate_limit_per_verifier="3/minute")
    first = await issuance.add_account(Verifier, "vk", name="Jorge Chavez airport")
    second = await issuance.add_account(Verifier, "vk", name="Callao port")
    caplog.set_level(logging.INFO)

    statuses = [
        (await issuance.http.get(f"/v1/visas/PE000000{n}", headers=bearer(first))).status_code for n in range(5)
    ]
    other = await issuance.http.get("/v1/visas/PE0000009", headers=bearer(second))

    assert statuses == [404, 404, 404, 429, 429]
    assert other.status_code == 404
    refused = await issuance.http.get("/v1/visas/PE0000001", headers=bearer(first))
    assert "per verifier" in assert_error_body(refused) and int(refused.headers["Retry-After"]) >= 1
    async with issuance.app.state.db.sessions() as session:
        ids = {verifier.name: verifier.id for verifier in await session.scalars(select(Verifier))}
    misses = [r.getMessage() for r in caplog.records if r.name == "visa.issuance" and r.levelno == logging.WARNING]
    assert len(misses) == 4  # each lookup answered 404, none of those answered 429
    assert sum(ids["Jorge Chavez airport"] in line for line in misses) == 3
    assert ids["Callao port"] in misses[-1]


def test_the_default_limits_and_their_validation():
    settings = IssuanceSettings()
    assert (settings.visa_rate_limit_per_key, settings.visa_rate_limit_per_address) == ("60/minute", "120/minute")
    assert settings.issuance_rate_limit_per_verifier == "30/minute"  # stricter than any key
    assert settings.visa_max_body_bytes == 2**20 and settings.visa_retry_after_seconds == 2
    with pytest.raises(ValidationError, match="not a rate limit"):
        IntakeSettings(visa_rate_limit_per_key="plenty")


# ---------------------------------------------------------------------------------------------------------
# 5. OpenAPI: the bearer scheme, and every error status each route can answer, with the one error body.


async def test_each_openapi_document_declares_security_and_error_statuses(system):
    for service in (system.intake, system.authorization, system.issuance):
        document = (await service.http.get("/openapi.json")).json()
        assert document["components"]["securitySchemes"]["apiKey"] == {
            "type": "http",
            "scheme": "bearer",
            "description": document["components"]["securitySchemes"]["apiKey"]["description"],
        }
        error_body = document["components"]["schemas"]["ErrorBody"]
        assert set(error_body["properties"]) == {"detail"}
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                where = f"{service.app.title}: {method.upper()} {path}"
                for code, answer in responses.items():
                    if code.startswith(("4", "5")):
                        ref = answer["content"]["application/json"]["schema"]["$ref"]
                        assert ref == "#/components/schemas/ErrorBody", where
                if not path.startswith("/v1/"):
                    assert "422" in responses, where  # the probes: never rate limited
                    continue
                assert {"422", "429", "503"} <= set(responses), where
                assert "Retry-After" in responses["429"]["headers"] and "Retry-After" in responses["503"]["headers"]
                if method == "post":
                    assert "413" in responses, where
                # Whether the route needs a key, asked of the route itself: without one, is it a 401?
                concrete = path.replace("{", "").replace("}", "")
                query = "?passport_type=DIPLOMATIC" if "visa-waivers" in path else ""
                answer = await service.http.request(method, concrete.replace("nationality", "ALB") + query)
                if answer.status_code == 401:
                    assert operation.get("security") == [{"apiKey": []}], where
                    assert "401" in responses, where
                else:
                    assert "security" not in operation and "401" not in responses, where


async def test_the_auditors_reads_wait_out_a_429_or_503_as_told():
    from services.audit.records import AuditReadError, fetch_visas

    def service(answers):
        pending = iter(answers)
        return httpx.MockTransport(lambda request: next(pending))

    limited = httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "too many requests"})
    restarting = httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "database unreachable"})
    page = httpx.Response(200, json={"visas": [], "next": None})

    assert await fetch_visas("http://issuance", "ak", transport=service([limited, restarting, page])) == {}
    with pytest.raises(AuditReadError, match="answered 429"):
        await fetch_visas("http://issuance", "ak", transport=service([limited] * 6))
