"""Alembic's environment for issuance's database, run by ``shared.migrations`` (``visa db … issuance``)."""

from shared.migrations import run_environment

run_environment("issuance")
