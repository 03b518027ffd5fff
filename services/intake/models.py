"""Intake's records: sponsors, their requests, and each person's progress as the events report it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Integer, MetaData, String, UniqueConstraint, orm
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.accounts import KeyHolder
from shared.db import NAMING_CONVENTION, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SponsorRecord(KeyHolder, Base):
    __tablename__ = "sponsors"

    kind: Mapped[str] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(3))


class Auditor(KeyHolder, Base):
    """Reads every request, read-only; the same id and key are registered at issuance."""

    __tablename__ = "auditors"


class VisaRequest(Base):
    __tablename__ = "requests"
    __table_args__ = (UniqueConstraint("sponsor_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sponsor_id: Mapped[str] = mapped_column(ForeignKey("sponsors.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    immigration_status: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    submitted: Mapped[dict] = mapped_column(JSON)  # the request as accepted
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    applicants: Mapped[list[Applicant]] = orm.relationship(
        back_populates="request", order_by="Applicant.position", lazy="selectin"
    )


class Applicant(Base):
    __tablename__ = "applicants"

    person_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10))
    relationship: Mapped[str | None] = mapped_column(String(20))
    surnames: Mapped[str] = mapped_column(String(120))
    given_names: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(10))  # MRE's decision for this person, once made
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    visa_number: Mapped[str | None] = mapped_column(String(9))
    visa_valid_from: Mapped[dt.date | None] = mapped_column(Date)
    visa_valid_until: Mapped[dt.date | None] = mapped_column(Date)
    # None is SQL NULL, as the ORM leaves a column never set (the event handlers write every column: rows.py).
    visa_mrz: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    # The treaty that makes a visa unnecessary (status NOT_REQUIRED): the event's ``Waiver``, as JSON.
    waiver: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # A renewal request's applicant: the number of the visa renewed (docs/domain/lifecycle.md, "Renewal").
    renews_visa: Mapped[str | None] = mapped_column(String(9), index=True)

    request: Mapped[VisaRequest] = orm.relationship(back_populates="applicants")
