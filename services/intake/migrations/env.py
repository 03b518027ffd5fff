"""Alembic's environment for intake's database, run by ``shared.migrations`` (``visa db … intake``)."""

from shared.migrations import run_environment

run_environment("intake")
