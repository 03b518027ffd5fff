"""The whole pipeline as operations runs it: three processes, real RabbitMQ, PostgreSQL and Redis."""

from __future__ import annotations

import signal

import httpx
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq

from shared.contracts import CONTENT_TYPE
from shared.mrz import validate_mrv_a
from tests.support.broker import listen
from tests.support.requests import example_request
from tests.support.system import eventually


async def test_a_diplomat_and_spouse_get_their_visas(system, broker):
    async with listen(broker.admin, "", "visa.issued", "visa.request.submitted") as listener:
        await system.start()
        key = system.new_key(
            "sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE"
        )
        async with httpx.AsyncClient(base_url=system.services["intake"].url) as intake:
            answer = await intake.post(
                "/v1/requests", json=example_request(), headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 202, answer.text
            request_id = answer.json()["request_id"]
            assert answer.json()["status"] == "SUBMITTED"

            def issued(events):
                return [e for e in events if e["type"] == "pe.gob.rree.visa.issued.v1"]

            await listener.wait_for(lambda events: len({e["data"]["person_id"] for e in issued(events)}) == 2)

            # Every message is a CloudEvent in structured mode, persistent, with message_id = event id.
            for message, event in zip(listener.messages, listener.events, strict=True):
                assert message.content_type == CONTENT_TYPE
                assert message.message_id == event["id"]
                assert message.type == event["type"]
                assert message.delivery_mode == 2
                # An integrator using the CloudEvents SDK reads the same event back.
                sdk_event = ce_rabbitmq.from_rabbitmq_event(
                    ce_rabbitmq.RabbitMQMessage(
                        headers={k: str(v) for k, v in (message.headers or {}).items()},
                        content_type=message.content_type,
                        body=message.body,
                    )
                )
                assert (sdk_event.get_id(), sdk_event.get_type()) == (event["id"], event["type"])
                assert sdk_event.get_extension("correlationid") == request_id
            submitted = listener.of_type("request.submitted.v1")
            assert len(submitted) == 1 and "causationid" not in submitted[0]
            for event in issued(listener.events):
                assert event["subject"] == event["correlationid"] == request_id
                assert event["causationid"]
                line1, line2 = event["data"]["mrz"]
                assert validate_mrv_a(line1, line2) == []

            async def issued_at_intake():
                view = (
                    await intake.get(f"/v1/requests/{request_id}", headers={"Authorization": f"Bearer {key}"})
                ).json()
                return view if view["status"] == "ISSUED" else None

            view = await eventually(issued_at_intake)
        assert [a["status"] for a in view["applicants"]] == ["ISSUED", "ISSUED"]
        numbers = {a["visa"]["number"] for a in view["applicants"]}
        assert numbers == {e["data"]["visa_number"] for e in issued(listener.events)}
        for applicant in view["applicants"]:
            assert validate_mrv_a(*applicant["visa"]["mrz"]) == []

        verifier = system.new_key("verifiers", "add", "--name", "Jorge Chavez airport")
        async with httpx.AsyncClient(base_url=system.services["issuance"].url) as issuance:
            for number in numbers:
                visa = (
                    await issuance.get(f"/v1/visas/{number}", headers={"Authorization": f"Bearer {verifier}"})
                ).json()
                assert visa["standing"] == "VALID"


async def test_each_service_reports_ready_and_stops_cleanly_on_sigterm(system):
    await system.start()
    for service in system.services.values():
        async with httpx.AsyncClient(base_url=service.url) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/readyz")).json() == {"database": "ok", "broker": "ok", "outbox": "ok"}
    for name, service in system.services.items():
        # Uvicorn finishes the shutdown, then re-raises SIGTERM so that the exit status tells how it ended.
        assert service.stop() in (0, -signal.SIGTERM)
        log = service.log_tail()
        assert "Application shutdown complete" in log and f"visa {name} " in log.lower() and "stopped" in log, log
