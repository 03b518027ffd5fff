"""Alembic's environment for authorization's database, run by ``shared.migrations`` (``visa db … authorization``)."""

from shared.migrations import run_environment

run_environment("authorization")
