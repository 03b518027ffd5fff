"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=("sqlite", "postgresql"))
def dialect(request) -> str:
    """Each test that asks for a database (``new_database``) runs on SQLite and on PostgreSQL, unless it says."""
    return request.param
