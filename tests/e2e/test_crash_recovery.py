"""SIGKILL one service while requests flow: every accepted request still ends with one visa per person."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest

from tests.support.broker import listen
from tests.support.requests import example_request
from tests.support.sponsor import submit_until_accepted
from tests.support.system import eventually

REQUESTS = 24
ISSUED = "pe.gob.rree.visa.issued.v1"


@pytest.mark.parametrize("victim", ["intake", "authorization", "issuance"])
async def test_sigkill_mid_flow_loses_nothing_and_doubles_nothing(system, broker, victim):
    async with listen(broker.admin, "", "visa.issued") as listener:
        await system.start()
        key = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        headers = {"Authorization": f"Bearer {key}"}
        accepted: list[str] = []

        async with httpx.AsyncClient(base_url=system.services["intake"].url, timeout=10) as intake:

            async def submit(n: int) -> None:
                body = example_request(surname="CRASH" + chr(ord("A") + n % 26) * (1 + n // 26))
                accepted.append(await submit_until_accepted(intake, body, headers, f"crash-{n}", timeout=60))

            async def flow() -> None:
                for n in range(REQUESTS):
                    await submit(n)
                    await asyncio.sleep(0.05)  # a steady trickle, so the kill lands mid-flow

            sender = asyncio.create_task(flow())
            await listener.wait_for(lambda events: len(events) >= REQUESTS // 2)
            system.services[victim].kill()
            await system.restart(victim)
            await sender

            assert len(set(accepted)) == len(accepted) == REQUESTS

            async def all_issued():
                for request_id in accepted:
                    view = (await intake.get(f"/v1/requests/{request_id}", headers=headers)).json()
                    if view["status"] != "ISSUED":
                        return None
                return True

            await eventually(all_issued, timeout=90)
            views = [(await intake.get(f"/v1/requests/{r}", headers=headers)).json() for r in accepted]

        # Redelivery may repeat an event (same id); it must never make a second visa for a person.
        visas_per_person: dict[str, set[str]] = defaultdict(set)
        for event in listener.of_type(ISSUED):
            visas_per_person[event["data"]["person_id"]].add(event["data"]["visa_number"])
        people = [applicant for view in views for applicant in view["applicants"]]
        assert len(people) == 2 * len(accepted)
        for applicant in people:
            assert visas_per_person[applicant["person_id"]] == {applicant["visa"]["number"]}
        assert all(len(numbers) == 1 for numbers in visas_per_person.values())
