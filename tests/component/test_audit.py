"""Auditors read what intake and issuance hold now, read-only, to reconcile it with the event log."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from services import cli
from services.audit.records import AuditReadError, fetch_requests, fetch_visas
from services.intake.models import Auditor as IntakeAuditor
from services.issuance.models import Auditor as IssuanceAuditor
from shared.accounts import key_hash, register
from shared.contracts import VisaCancelled, VisaIssued
from tests.support.components import Service, System, bearer, pump
from tests.support.requests import passport, spouse, visa_request

INTAKE, ISSUANCE = "/v1/audit/requests", "/v1/audit/visas"
VISA_FIELDS = {
    "number",
    "request_id",
    "authorization_id",
    "person_id",
    "immigration_status",
    "valid_from",
    "valid_until",
    "issued_at",
    "cancelled_at",
    "superseded_at",
    "revocation_id",
}


@pytest.fixture
async def auditor(system: System) -> dict[str, str]:
    """Headers of an auditor registered as ``visa auditors add`` does: one id and one key in both services."""
    auditor_id, key = await register(
        system.intake.app.state.db.url, IntakeAuditor, service="intake", prefix="ak", name="Contraloría"
    )
    await register(
        system.issuance.app.state.db.url,
        IssuanceAuditor,
        service="issuance",
        prefix="ak",
        name="Contraloría",
        key=key,
        holder_id=auditor_id,
    )
    return bearer(key)


@dataclass
class History:
    revoked: str  # both people issued, then cancelled
    partly_denied: str  # the principal issued, the spouse denied by the rules
    in_flight: str  # another sponsor's: both visas issued, only the principal's reported to intake yet
    pending: str  # another sponsor's, not yet seen downstream
    sponsors: dict[str, dict[str, str]]  # request id -> its sponsor's headers


@pytest.fixture
async def history(system: System, sponsor, officer) -> History:
    chile = bearer(await system.intake.add_sponsor(name="Embassy of Chile", country="CHL"))
    revoked = await system.submit(sponsor)
    ordinary_spouse = [spouse(passport=passport("P7654321", type="ORDINARY"))]
    partly_denied = await system.submit(sponsor, visa_request(family=ordinary_spouse))
    await system.settle()
    response = await system.authorization.http.post(
        f"/v1/cases/{revoked}/revoke", json={"reason": "end of mission"}, headers=officer
    )
    assert response.status_code == 200, response.text
    await system.settle()
    in_flight = await system.submit(chile)
    await pump(system.intake, system.authorization)
    await pump(system.authorization, system.issuance, system.intake)
    first, _ = [row for row in await system.issuance.outbox_rows("visa.issued") if row.published_at is None]
    assert await system.intake.deliver(first.body) == "ack"
    pending = await system.submit(chile)
    sponsors = {revoked: sponsor, partly_denied: sponsor, in_flight: chile, pending: chile}
    return History(revoked, partly_denied, in_flight, pending, sponsors)


def service(system: System, path: str) -> Service:
    return system.intake if path == INTAKE else system.issuance


async def test_auditor_lists_every_request_as_its_sponsor_sees_it(system, auditor, history):
    response = await system.intake.http.get(INTAKE, headers=auditor)

    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["next"] is None
    # Every sponsor's requests, in request id order.
    assert [item["request_id"] for item in listing["requests"]] == sorted(history.sponsors)
    for item in listing["requests"]:
        view = await system.view(history.sponsors[item["request_id"]], item["request_id"])
        people = [{"person_id": a["person_id"], "role": a["role"], "status": a["status"]} for a in view["applicants"]]
        assert item == {"request_id": view["request_id"], "status": view["status"], "people": people}
    by_id = {item["request_id"]: item for item in listing["requests"]}
    assert by_id[history.revoked]["status"] == "CANCELLED"
    assert [p["status"] for p in by_id[history.partly_denied]["people"]] == ["ISSUED", "DENIED"]
    assert by_id[history.partly_denied]["status"] == "ISSUED"
    # The request is as far as its least advanced person, not as its principal.
    assert [p["status"] for p in by_id[history.in_flight]["people"]] == ["ISSUED", "AUTHORIZED"]
    assert by_id[history.in_flight]["status"] == "AUTHORIZED"
    assert by_id[history.pending]["status"] == "SUBMITTED"


async def test_auditor_lists_every_visa_record_as_the_event_log_tells_it(system, auditor, history):
    response = await system.issuance.http.get(ISSUANCE, headers=auditor)

    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["next"] is None
    visas = listing["visas"]
    assert [visa["number"] for visa in visas] == sorted(visa["number"] for visa in visas)
    assert all(set(visa) == VISA_FIELDS for visa in visas)
    # Reconciled with what issuance published: each visa.issued, and each visa.cancelled that executed a revocation.
    expected = {}
    for issued in await system.issuance.outbox("visa.issued"):
        data = VisaIssued.model_validate(issued.data)
        expected[data.visa_number] = {
            "number": data.visa_number,
            "request_id": data.request_id,
            "authorization_id": data.authorization_id,
            "person_id": data.person_id,
            "immigration_status": data.immigration_status.value,
            "valid_from": data.valid_from,
            "valid_until": data.valid_until,
            "issued_at": data.issued_at,
            "cancelled_at": None,
            "superseded_at": None,
            "revocation_id": None,
        }
    for cancelled in await system.issuance.outbox("visa.cancelled"):
        data = VisaCancelled.model_validate(cancelled.data)
        expected[data.visa_number] |= {"cancelled_at": data.cancelled_at, "revocation_id": data.revocation_id}
    assert len(expected) == 5  # two for the revoked request, one for a principal, two in flight
    assert {visa["number"]: typed(visa) for visa in visas} == expected
    assert {visa["request_id"] for visa in visas if visa["cancelled_at"]} == {history.revoked}


def typed(visa: dict) -> dict:
    """A listed visa with its dates and times parsed, to compare them with the events' values."""
    parsed = dict(visa)
    for field in ("valid_from", "valid_until"):
        parsed[field] = dt.date.fromisoformat(visa[field])
    for field in ("issued_at", "cancelled_at"):
        parsed[field] = dt.datetime.fromisoformat(visa[field]) if visa[field] else None
    return parsed


@pytest.mark.parametrize("path", [INTAKE, ISSUANCE])
async def test_only_an_auditor_key_reads(system, auditor, sponsor, officer, verifier, path):
    http = service(system, path).http
    refused = {
        "no key": {},
        "sponsor's key": sponsor,
        "officer's key": officer,
        "verifier's key": verifier,
        "unknown key": bearer("ak_not-registered"),
        "auditor's key, not as a bearer": {"Authorization": auditor["Authorization"].replace("Bearer", "Basic")},
    }
    for who, headers in refused.items():
        response = await http.get(path, headers=headers)
        assert response.status_code == 401, who
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await http.get(path, headers=auditor)).status_code == 200


@pytest.mark.parametrize(
    ("path", "items", "cursor"), [(INTAKE, "requests", "request_id"), (ISSUANCE, "visas", "number")]
)
async def test_pages_of_one_cover_everything_once(system, auditor, history, path, items, cursor):
    http = service(system, path).http
    everything = (await http.get(path, headers=auditor)).json()[items]
    assert len(everything) == (4 if path == INTAKE else 5)

    pages, after = [], None
    for _ in range(len(everything) + 1):  # bounded: a cursor that does not advance must fail, not hang
        params = {"limit": 1} | ({"after": after} if after else {})
        page = (await http.get(path, params=params, headers=auditor)).json()
        pages.append(page[items])
        if page["next"] is None:
            break
        assert page["next"] == page[items][-1][cursor]
        after = page["next"]

    assert [len(page) for page in pages] == [1] * len(everything)  # no empty page at the end
    assert [item for page in pages for item in page] == everything
    exact = (await http.get(path, params={"limit": len(everything)}, headers=auditor)).json()
    assert exact == {items: everything, "next": None}
    last = everything[-1][cursor]
    assert (await http.get(path, params={"after": last}, headers=auditor)).json() == {items: [], "next": None}
    for limit in (0, 1001):
        assert (await http.get(path, params={"limit": limit}, headers=auditor)).status_code == 422


@contextmanager
def statements_run(target: Service) -> Iterator[list[str]]:
    """The SQL statements ``target``'s database runs meanwhile, upper-cased."""
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement.lstrip().upper())

    engine = target.app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_audit_reads_only_select(system, auditor, history):
    for path in (INTAKE, ISSUANCE):
        target = service(system, path)
        before = await target.snapshot()

        with statements_run(target) as statements:
            assert (await target.http.get(path, headers=auditor)).status_code == 200
            assert (await target.http.get(path, params={"limit": 1}, headers=auditor)).status_code == 200

        queries = [statement for statement in statements if not statement.startswith("BEGIN")]
        assert queries and all(statement.startswith("SELECT") for statement in queries), queries
        assert await target.snapshot() == before


class CountingTransport(httpx.ASGITransport):
    def __init__(self, app) -> None:
        super().__init__(app=app)
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await super().handle_async_request(request)


async def test_client_fetches_everything_page_by_page(system, auditor, history):
    key = auditor["Authorization"].removeprefix("Bearer ")
    listed_requests = (await system.intake.http.get(INTAKE, headers=auditor)).json()["requests"]
    listed_visas = (await system.issuance.http.get(ISSUANCE, headers=auditor)).json()["visas"]
    expected_requests = {
        item["request_id"]: {"status": item["status"], "people": {p["person_id"]: p["status"] for p in item["people"]}}
        for item in listed_requests
    }
    expected_visas = {visa["number"]: visa for visa in listed_visas}

    for page_size in (1, 1000):
        intake = CountingTransport(system.intake.app)
        requests = await fetch_requests("http://intake", key, page_size=page_size, transport=intake)
        issuance = CountingTransport(system.issuance.app)
        visas = await fetch_visas("http://issuance", key, page_size=page_size, transport=issuance)

        assert requests == expected_requests
        assert visas == expected_visas
        # A page per item, without an empty last one; or everything at once.
        assert (intake.calls, issuance.calls) == ((4, 5) if page_size == 1 else (1, 1))
    assert set(requests) == set(history.sponsors)
    assert set(requests[history.partly_denied]["people"].values()) == {"ISSUED", "DENIED"}
    assert len(visas) == 5


async def test_client_says_what_went_wrong(system, auditor, sponsor):
    key = auditor["Authorization"].removeprefix("Bearer ")
    sponsor_key = sponsor["Authorization"].removeprefix("Bearer ")
    with pytest.raises(AuditReadError, match=r"refused the key \(401\)"):
        await fetch_requests("http://intake", sponsor_key, transport=httpx.ASGITransport(app=system.intake.app))
    with pytest.raises(AuditReadError, match="cannot reach http://127.0.0.1:1"):
        await fetch_visas("http://127.0.0.1:1", key)  # nothing listens there
    with pytest.raises(AuditReadError, match="answered 404"):  # intake is not where visas are
        await fetch_visas("http://intake", key, transport=httpx.ASGITransport(app=system.intake.app))


async def test_visa_auditors_add_registers_one_key_at_intake_and_issuance(system, monkeypatch):
    # The component harness keeps each service's SQLite file: the command writes to the same ones.
    monkeypatch.setenv("INTAKE_DATABASE_URL", system.intake.app.state.db.url)
    monkeypatch.setenv("ISSUANCE_DATABASE_URL", system.issuance.app.state.db.url)
    files = {name: make_url(getattr(system, name).app.state.db.url).database for name in ("intake", "issuance")}

    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["auditors", "add", "--name", "Contraloría General"])

    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("ak_")
    rows = {}
    for name in ("intake", "issuance"):
        with sqlite3.connect(files[name]) as connection:
            rows[name] = connection.execute("SELECT id, name, key_hash FROM auditors").fetchall()
    assert rows["intake"] == rows["issuance"]
    [(auditor_id, name, stored)] = rows["intake"]
    assert (name, stored) == ("Contraloría General", key_hash(key))  # only the hash is kept
    assert auditor_id in result.output
    # And the printed key opens both audit listings.
    assert (await system.intake.http.get(INTAKE, headers=bearer(key))).status_code == 200
    assert (await system.issuance.http.get(ISSUANCE, headers=bearer(key))).status_code == 200
