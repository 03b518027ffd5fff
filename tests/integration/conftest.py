"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=("sqlite", "postgresql"))
def new_database(request, tmp_path):
    """Makes a fresh database's URL, once on SQLite and once on PostgreSQL: ``await new_database(label)``."""
    postgres = request.getfixturevalue("postgres_database") if request.param == "postgresql" else None

    async def make(label: str) -> str:
        return await postgres(label) if postgres else f"sqlite+aiosqlite:///{tmp_path}/{label}.db"

    return make
