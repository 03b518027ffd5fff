"""The Directorate's records: officers, and one case per request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.accounts import KeyHolder
from shared.db import NAMING_CONVENTION, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Officer(KeyHolder, Base):
    __tablename__ = "officers"


class Case(Base):
    __tablename__ = "cases"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    submission: Mapped[dict] = mapped_column(JSON)  # RequestSubmitted data, as received
    violations: Mapped[dict] = mapped_column(JSON)  # person id -> rule violations
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decisions: Mapped[list | None] = mapped_column(JSON)  # PersonDecision data, once decided
    visas: Mapped[dict] = mapped_column(JSON, default=dict)  # person id -> visa number, as the consulate reports
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(500))
    revoked_by: Mapped[str | None] = mapped_column(String(36))  # the officer who revoked
    # Each revocation, whole or per person: {"person_ids", "reason", "revoked_by", "revoked_at"} (cases.revocation).
    revocations: Mapped[list | None] = mapped_column(JSON)
    # Copied from the submission, for the officers' filters (None on rows whose submission lacks them).
    sponsor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    immigration_status: Mapped[str | None] = mapped_column(String(40))
    # The officer who holds the case (cases.py: who acts on a case), and since when; a decider holds it.
    assigned_to: Mapped[str | None] = mapped_column(String(36), index=True)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The consular post that issues the case's visas (shared/posts.py): the sponsor's choice, the default post, or
    # an officer's while the case is pending. None on a case older than posts: the default post's (migration 0005).
    post: Mapped[str | None] = mapped_column(String(6))
