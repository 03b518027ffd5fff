"""Each consumer as the broker sees it: redeliveries, unknown fields and types, poison, failures."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError, OperationalError

import services.issuance.usecases
from services.authorization.models import Case
from services.issuance.models import Visa
from shared.contracts import AuthorizationGranted, Envelope, RequestSubmitted, ReviewStarted, VisaIssued
from shared.contracts.registry import source_of
from shared.messaging.outbox import inbox, outbox
from tests.support.components import pump
from tests.support.keys import key_for, sign_as


async def granted(system, sponsor) -> Envelope:
    """Submit a request and let authorization (policy auto) decide it; the grant, not yet delivered."""
    await system.submit(sponsor)
    await pump(system.intake, system.authorization)
    [grant] = await system.authorization.outbox(AuthorizationGranted.routing_key)
    return grant


async def test_redelivered_grant_issues_the_visas_once(system, sponsor):
    grant, issuance = await granted(system, sponsor), system.issuance

    assert await issuance.deliver(grant) == "ack"
    assert await issuance.deliver(grant) == "ack"

    assert await issuance.count(Visa.__table__) == 2
    assert await issuance.count(outbox, outbox.c.event_type == VisaIssued.event_type) == 2


@pytest.mark.parametrize("same_event_id", [True, False], ids=["redelivery", "same-request-new-event-id"])
async def test_a_request_opens_one_case_and_is_decided_once(system, sponsor, signing_keys, same_event_id):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()
    again = submitted if same_event_id else sign_as(signing_keys, Envelope(**submitted.model_dump(exclude={"id"})))
    authorization = system.authorization

    assert await authorization.deliver(submitted) == "ack"
    assert await authorization.deliver(again) == "ack"

    assert await authorization.count(Case.__table__) == 1
    assert await authorization.count(outbox) == 1


async def test_a_request_submitted_twice_in_one_group_opens_one_case(system, sponsor, signing_keys, caplog):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()
    again = sign_as(signing_keys, Envelope(**submitted.model_dump(exclude={"id"})))
    authorization = system.authorization
    committed, sent = commits_of(authorization), statements_of(authorization)

    # One transaction: the second finds the case the first opened, and takes back the grant it decided.
    assert await authorization.deliver_together([submitted, again]) == ["ack", "ack"]

    assert len(committed) == 1
    assert [statement.split(" (")[0] for statement in sent if statement.startswith("INSERT")] == [
        "INSERT INTO inbox",
        "INSERT INTO cases",
        "INSERT INTO cases",
        "INSERT INTO outbox",
    ]
    assert await authorization.count(Case.__table__) == 1
    [grant] = await authorization.outbox()
    assert grant.causationid == submitted.id
    assert f"request {submitted.subject} submitted twice under different event ids; kept the first" in caplog.text


async def test_unknown_fields_in_envelope_and_data_are_ignored(system, sponsor, signing_keys):
    await system.submit(sponsor)
    [row] = await system.intake.outbox_rows()
    event = json.loads(row.body)
    event |= {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "priority": "high"}
    event["data"] |= {"urgency": "HIGH", "attachments": [{"kind": "appointment-letter"}]}
    event["data"]["principal"]["middle_name"] = "SOFIA"
    event["data"]["principal"]["passport"]["mrz"] = "P<SWEERIKSSON<<ANNA<MARIA"

    # Intake signs what it publishes: a later release adding these fields signs them too.
    assert await system.authorization.deliver(sign_as(signing_keys, event)) == "ack"

    assert await system.authorization.count(Case.__table__) == 1
    [decision] = await system.authorization.outbox()
    assert decision.type == AuthorizationGranted.event_type
    assert decision.causationid == event["id"]
    assert {d["decision"] for d in decision.data["decisions"]} == {"GRANTED"}


def unknown_event(request_id: str, type: str) -> dict:
    return {
        "specversion": "1.0",
        "id": "8b0f7f3e-5a0c-4a55-9a8e-6f3f1f1f1f1f",
        "source": "urn:pe:rree:visa:future-service",
        "type": type,
        "subject": request_id,
        "time": "2030-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": {"request_id": request_id, "status": "WITHDRAWN"},
        "correlationid": request_id,
    }


UNKNOWN_TYPES = [
    "pe.gob.rree.visa.request.withdrawn.v1",  # a type nobody knows yet
    "pe.gob.rree.visa.authorization.granted.v2",  # a future version of a known type
    "pe.gob.rree.visa.request.submitted.v1",  # known, but intake and issuance do not consume it
]


@pytest.mark.parametrize(
    ("service", "type"),
    [
        (service, type)
        for service in ("intake", "authorization", "issuance")
        for type in UNKNOWN_TYPES
        if (service, type) != ("authorization", "pe.gob.rree.visa.request.submitted.v1")
    ],
)
async def test_events_a_consumer_does_not_handle_are_acknowledged_and_ignored(
    system, sponsor, signing_keys, service, type
):
    request_id = await system.submit(sponsor)
    await system.settle()
    target = getattr(system, service)
    before = await target.snapshot()
    # A future service with a key in the ring for its types: verified, then ignored by who does not know them.
    future = key_for(signing_keys, "future-service", tuple(UNKNOWN_TYPES))
    event = future.sign(unknown_event(request_id, type) | {"source": source_of("future-service")})

    assert await target.deliver(json.dumps(event).encode()) == "ack"

    assert await target.snapshot() == before


def poison(request_id: str, service: str, keys) -> dict[str, bytes]:
    """Messages no retry can fix: each must be dead-lettered (reject, no requeue)."""
    handled = {  # a type this consumer handles, with data that breaks its contract
        "intake": VisaIssued.event_type,
        "authorization": "pe.gob.rree.visa.request.submitted.v1",
        "issuance": AuthorizationGranted.event_type,
    }[service]
    envelope = unknown_event(request_id, handled)
    envelope["data"] = {"request_id": request_id, "decisions": "everyone", "principal": {"surnames": ""}}
    no_subject = {key: value for key, value in envelope.items() if key != "subject"}
    # Signed by the owner of the type: what makes them poison is their content, not their origin.
    return {
        "not json": b"\x00\xffthis is not json",
        "not an envelope": b'["a", "list"]',
        "envelope without subject": sign_as(keys, no_subject),
        "invalid data": sign_as(keys, envelope),
    }


@pytest.mark.parametrize("kind", ["not json", "not an envelope", "envelope without subject", "invalid data"])
@pytest.mark.parametrize("service", ["intake", "authorization", "issuance"])
async def test_poison_is_dead_lettered_without_changing_anything(system, sponsor, signing_keys, service, kind):
    request_id = await system.submit(sponsor)
    target = getattr(system, service)
    before = await target.snapshot()

    assert await target.deliver(poison(request_id, service, signing_keys)[kind]) == "reject"

    assert await target.snapshot() == before


async def test_a_grant_naming_someone_no_mrz_can_hold_is_dead_lettered(system, sponsor):
    # Intake refuses such names; a grant from another producer (or an older intake) may still carry one.
    grant = (await granted(system, sponsor)).model_dump(mode="json", exclude={"id"})
    grant["data"]["decisions"][1]["person"]["given_names"] = "ЛАРС"  # Cyrillic: no ICAO 9303 transliteration here

    assert await system.issuance.deliver(Envelope(**grant)) == "reject"

    assert await system.issuance.count(Visa.__table__) == 0  # not even the principal's: the grant is one unit
    assert await system.issuance.count(outbox) == 0


async def test_a_failed_handler_is_retried_not_forgotten(system, sponsor, monkeypatch):
    grant, issuance = await granted(system, sponsor), system.issuance
    numbering = services.issuance.usecases.visa_number
    failures = [OperationalError("UPDATE visas ...", {}, Exception("database is locked"))]

    def flaky_numbering(prefix: str, seq: int) -> str:
        if failures:
            raise failures.pop()
        return numbering(prefix, seq)

    monkeypatch.setattr(services.issuance.usecases, "visa_number", flaky_numbering)

    assert await issuance.deliver(grant) == "requeue"  # transient: back to the queue
    assert await issuance.count(inbox) == 0  # the claim was rolled back with the rest
    assert await issuance.deliver(grant) == "ack"

    assert await issuance.count(Visa.__table__) == 2
    assert await issuance.count(outbox, outbox.c.event_type == VisaIssued.event_type) == 2


async def test_a_database_outage_holds_the_event_instead_of_spending_its_delivery_limit(system, sponsor, monkeypatch):
    grant, issuance = await granted(system, sponsor), system.issuance
    issuance.bus.database_retry_seconds = 0.01
    outage = {"failed_pings_left": 3}
    reachable = issuance.bus.db.ping

    async def ping() -> None:
        if outage["failed_pings_left"]:
            outage["failed_pings_left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))
        await reachable()

    numbering, attempts = services.issuance.usecases.visa_number, []

    def numbering_during_the_outage(prefix: str, seq: int) -> str:
        attempts.append(seq)
        if outage["failed_pings_left"]:
            raise OperationalError("INSERT INTO visas ...", {}, ConnectionRefusedError("database down"))
        return numbering(prefix, seq)

    monkeypatch.setattr(issuance.bus.db, "ping", ping)
    monkeypatch.setattr(services.issuance.usecases, "visa_number", numbering_during_the_outage)

    # Held until the database answers again, then handled: neither rejected nor requeued.
    assert await issuance.deliver(grant) == "ack"
    assert outage["failed_pings_left"] == 0 and len(attempts) == 3  # one failed try, then two visas
    assert await issuance.count(Visa.__table__) == 2
    assert await issuance.count(outbox, outbox.c.event_type == VisaIssued.event_type) == 2


async def test_a_connection_the_database_dropped_costs_the_event_no_delivery_attempt(system, sponsor, monkeypatch):
    # The database answers (its ping succeeds), but the connection the handler held was cut under it: a restart of
    # the server, or a network cut, that the pool could not see before handing the connection out.
    grant, issuance = await granted(system, sponsor), system.issuance
    numbering, attempts = services.issuance.usecases.visa_number, []

    def numbering_on_a_dropped_connection(prefix: str, seq: int) -> str:
        attempts.append(seq)
        if len(attempts) == 1:
            raise DBAPIError(
                "UPDATE visas ...", {}, ConnectionResetError("connection lost"), connection_invalidated=True
            )
        return numbering(prefix, seq)

    monkeypatch.setattr(services.issuance.usecases, "visa_number", numbering_on_a_dropped_connection)

    # Tried again at once, on another connection: handled, not requeued (which would count an attempt).
    assert await issuance.deliver(grant) == "ack"
    assert len(attempts) == 3  # one failed try, then two visas
    assert await issuance.count(Visa.__table__) == 2
    assert await issuance.count(outbox, outbox.c.event_type == VisaIssued.event_type) == 2


async def grants(system, sponsor, count: int) -> list[Envelope]:
    """``count`` requests decided by authorization (policy auto); their grants, not yet delivered."""
    for _ in range(count):
        await system.submit(sponsor)
    await pump(system.intake, system.authorization)
    found = await system.authorization.outbox(AuthorizationGranted.routing_key)
    assert len(found) == count
    return found


def commits_of(service) -> list[object]:
    """One entry per transaction ``service``'s database commits from now on."""
    committed: list[object] = []
    event.listen(service.app.state.db.engine.sync_engine, "commit", committed.append)
    return committed


def statements_of(service) -> list[str]:
    """Each SQL statement ``service``'s database is sent from now on (an executemany once)."""
    sent: list[str] = []
    event.listen(
        service.app.state.db.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: sent.append(statement),
    )
    return sent


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_events_that_arrive_together_are_handled_in_one_transaction(system, sponsor):
    issuance = system.issuance
    found = await grants(system, sponsor, 3)
    committed = commits_of(issuance)
    sent = statements_of(issuance)

    assert await issuance.deliver_together(found) == ["ack"] * 3

    assert len(committed) == 1
    # The group's three inbox entries are one statement, and so are the six events it staged in the outbox.
    assert len([statement for statement in sent if statement.startswith("INSERT INTO inbox")]) == 1
    assert len([statement for statement in sent if statement.startswith("INSERT INTO outbox")]) == 1
    assert await issuance.count(Visa.__table__) == 6
    assert await issuance.count(inbox) == 3
    issued = await issuance.outbox(VisaIssued.routing_key)
    # Each visa's event is caused by its own grant, as when each grant is handled alone.
    assert sorted(event.causationid for event in issued) == sorted([grant.id for grant in found] * 2)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_redelivery_among_events_that_arrive_together_is_handled_once(system, sponsor):
    issuance = system.issuance
    first, second = await grants(system, sponsor, 2)

    assert await issuance.deliver_together([first, second, first]) == ["ack"] * 3

    assert await issuance.count(Visa.__table__) == 4
    assert await issuance.count(inbox) == 2


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_when_one_of_the_events_that_arrive_together_fails_each_is_handled_alone(system, sponsor, monkeypatch):
    issuance = system.issuance
    found = await grants(system, sponsor, 3)
    failing = {decision["person_id"] for decision in found[1].data["decisions"]}
    zone = services.issuance.usecases.machine_readable_zone

    def zone_failing_for_one_grant(number, person, *args):
        if person.person_id in failing:
            raise RuntimeError("a bug met by this grant's people")  # its own event fails, every time
        return zone(number, person, *args)

    monkeypatch.setattr(services.issuance.usecases, "machine_readable_zone", zone_failing_for_one_grant)
    committed = commits_of(issuance)

    settled = await issuance.deliver_together(found)

    # The group's transaction is rolled back; then each alone: two handled, the failing one back to the queue.
    assert sorted(settled) == ["ack", "ack", "requeue"]
    assert len(committed) == 2
    assert await issuance.count(Visa.__table__) == 4
    assert await issuance.count(inbox) == 2
    assert await issuance.count(Visa.__table__, Visa.request_id == found[1].data["request_id"]) == 0


async def test_a_unit_of_work_that_only_adds_rows_emits_one_event_at_most(system):
    # Its rows are written in no set order (Database.insert_all): two events' outbox sequence would be arbitrary.
    with pytest.raises(ValueError, match="one event at most"):
        async with system.intake.bus.adding() as additions:
            for n in range(2):
                await additions.emit(ReviewStarted(request_id=f"r-{n}", case_id="c"))
    assert await system.intake.count(outbox) == 0


async def test_requests_that_arrive_together_are_judged_on_one_reading_of_the_treaty_list(system, sponsor):
    authorization = system.authorization
    for _ in range(3):
        await system.submit(sponsor)
    submitted = await system.intake.outbox(RequestSubmitted.routing_key)
    treaties = authorization.app.state.directorate.treaties
    readings = []
    current = treaties.current

    async def counted():
        readings.append(1)
        return await current()

    treaties.current = counted
    try:
        assert await authorization.deliver_together(submitted) == ["ack"] * 3
        assert len(readings) == 1
        assert await authorization.deliver(submitted[0]) == "ack"  # a redelivery, alone: a unit of work of its own
        assert len(readings) == 1  # a redelivery is not judged again
    finally:
        del treaties.current
    assert len(await authorization.outbox(AuthorizationGranted.routing_key)) == 3


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_visa_issued_alone_is_recorded_with_its_claim_in_one_statement_on_postgresql(
    system, sponsor, signing_keys, caplog
):
    grant, authorization = await granted(system, sponsor), system.authorization
    assert await system.issuance.deliver(grant) == "ack"
    first, second = await system.issuance.outbox(VisaIssued.routing_key)
    committed, sent = commits_of(authorization), statements_of(authorization)

    assert await authorization.deliver(first) == "ack"
    assert await authorization.deliver(first) == "ack"  # a redelivery: nothing written twice
    other = Envelope(**first.model_dump(exclude={"id", "data"}), data=first.data | {"authorization_id": "another"})
    assert await authorization.deliver(sign_as(signing_keys, other)) == "ack"

    if authorization.app.state.db.is_postgres:
        # Each one statement in autocommit: the inbox's claim and the update, chained; no BEGIN, no COMMIT.
        assert [statement.split()[:3] for statement in sent] == [["WITH", "claim", "AS"]] * 3 and not committed
    else:
        assert len(committed) == 3  # a transaction each, as any event
    async with authorization.app.state.db.sessions() as session:
        [visas] = (await session.execute(select(Case.visas))).scalars().all()
    assert visas == {first.data["person_id"]: first.data["visa_number"]}
    assert await authorization.count(inbox) == 2 + 1  # the request's submission, the visa, the other
    assert f"visa {first.data['visa_number']} names an authorization this Directorate did not give" in caplog.text
    assert second.data["person_id"] not in visas
