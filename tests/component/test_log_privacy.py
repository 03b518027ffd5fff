"""Logs never carry personal data, error paths included: a poison event's reason names fields, not values."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy.exc import IntegrityError

import services.issuance.usecases
from shared.contracts import AuthorizationGranted
from tests.support.components import pump
from tests.support.keys import sign_as

NAME, PASSPORT = "ZWYRTHEIM", "X9876543"


@pytest.mark.parametrize("service", ["authorization", "issuance", "intake"])
async def test_a_schema_invalid_event_is_dead_lettered_without_its_personal_data_in_the_log(
    system, sponsor, signing_keys, caplog, service
):
    await system.submit(sponsor)
    [row] = await system.intake.outbox_rows()
    event = json.loads(row.body)
    # A submission whose principal breaks the contract (a date of birth that is no date), full of personal data.
    event["data"]["principal"] |= {"surnames": NAME, "date_of_birth": f"born {NAME} {PASSPORT}"}
    event["data"]["principal"]["passport"]["number"] = PASSPORT
    if service != "authorization":  # a type that consumer handles, with the same broken principal
        event["type"] = {
            "issuance": "pe.gob.rree.visa.authorization.granted.v1",
            "intake": "pe.gob.rree.visa.issued.v1",
        }[service]
    target = getattr(system, service)

    with caplog.at_level(logging.DEBUG):
        assert await target.deliver(sign_as(signing_keys, event)) == "reject"

    lines = [record.getMessage() for record in caplog.records]
    assert any("dead-letters message" in line for line in lines), lines
    assert not [line for line in lines if NAME in line or PASSPORT in line]


async def test_a_failing_handler_is_logged_by_kind_not_by_message(system, sponsor, monkeypatch, caplog):
    # A driver's message quotes the statement's parameters: a name, a passport number.
    await system.submit(sponsor)
    await pump(system.intake, system.authorization)
    [grant] = await system.authorization.outbox(AuthorizationGranted.routing_key)
    name, passport = "ZWYR" + "THEIM", "X98" + "76543"  # built at run time: tracebacks quote source lines
    failures = [IntegrityError("INSERT INTO visas …", {"surnames": name}, Exception(f"({name}, {passport})"))]
    numbering = services.issuance.usecases.visa_number

    def failing_once(prefix: str, seq: int) -> str:
        if failures:
            raise failures.pop()
        return numbering(prefix, seq)

    monkeypatch.setattr(services.issuance.usecases, "visa_number", failing_once)
    with caplog.at_level(logging.INFO):
        assert await system.issuance.deliver(grant) == "requeue"

    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert any("failed on" in line and "IntegrityError" in line for line in lines), lines
    assert not [line for line in lines if name in line or passport in line]
