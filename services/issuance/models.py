"""The consulate's records: the visas it issued and the revocations it executed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Date, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.accounts import KeyHolder
from shared.db import NAMING_CONVENTION, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Visa(Base):
    __tablename__ = "visas"
    # One visa per person per authorization, whatever the broker redelivers.
    __table_args__ = (UniqueConstraint("authorization_id", "person_id"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    number: Mapped[str | None] = mapped_column(String(9), unique=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    authorization_id: Mapped[str] = mapped_column(String(36), index=True)
    person_id: Mapped[str] = mapped_column(String(36))
    surnames: Mapped[str] = mapped_column(String(120))
    given_names: Mapped[str] = mapped_column(String(120))
    nationality: Mapped[str] = mapped_column(String(3))
    passport_number: Mapped[str] = mapped_column(String(9))
    immigration_status: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    mrz_line1: Mapped[str] = mapped_column(String(44))
    mrz_line2: Mapped[str] = mapped_column(String(44))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancellation_reason: Mapped[str | None] = mapped_column(String(500))
    revocation_id: Mapped[str | None] = mapped_column(String(36))
    # A renewal's visa replaced this one (docs/domain/lifecycle.md, "Renewal"): when, and its number.
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    superseded_by: Mapped[str | None] = mapped_column(String(9))


class Verifier(KeyHolder, Base):
    """A border post or another system allowed to check visas."""

    __tablename__ = "verifiers"


class Auditor(KeyHolder, Base):
    """Reads every visa record, read-only; the same id and key are registered at intake."""

    __tablename__ = "auditors"


class ConsularClerk(KeyHolder, Base):
    """Consular staff of this post: prints the visas it issued, to affix them to their passports."""

    __tablename__ = "consular_staff"


class Revocation(Base):
    """A revocation received, kept so that a grant arriving after it issues nothing it revokes."""

    __tablename__ = "revocations"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(String(36), index=True)
    person_ids: Mapped[list[str]] = mapped_column(JSON)
    visa_numbers: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
