"""Operations' view of a full run, three processes on real RabbitMQ and PostgreSQL: each service's /metrics counts
exactly what was sent, and its logs are JSON lines naming the request and the trace, with no personal data."""

from __future__ import annotations

import json

import httpx

from shared.contracts import AuthorizationGranted, RequestSubmitted, VisaIssued
from tests.support.metrics import Samples, samples, total
from tests.support.requests import example_request
from tests.support.system import eventually

SURNAMES = ("ERIKSSON", "LINDQVIST", "SODERBERG")
# What the requests hold about people; none of it may reach a log line at INFO or above.
PERSONAL = (
    *SURNAMES,
    "ANNA MARIA",
    "ANNA",
    "LARS",
    "D1234567",
    "D7654321",
    "1974-08-12",
    "1972-03-02",
    "740812",
    "720302",
)


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    return samples(answer.text)


async def test_metrics_count_what_was_sent_and_logs_hold_no_personal_data(system):
    await system.start()
    key = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE")
    headers = {"Authorization": f"Bearer {key}"}
    urls = {name: service.url for name, service in system.services.items()}
    async with httpx.AsyncClient(base_url=urls["intake"], headers=headers) as intake:
        request_ids = []
        for surname in SURNAMES:
            answer = await intake.post("/v1/requests", json=example_request(surname=surname))
            assert answer.status_code == 202, answer.text
            request_ids.append(answer.json()["request_id"])

        async def all_issued():
            views = [(await intake.get(f"/v1/requests/{request_id}")).json() for request_id in request_ids]
            return all(view["status"] == "ISSUED" for view in views)

        await eventually(all_issued, timeout=60)

    requests, people = len(SURNAMES), 2 * len(SURNAMES)
    consumed, published = "visa_events_consumed_total", "visa_events_published_total"
    expected = {
        "intake": [
            ("http_requests_total", {"handler": "/v1/requests", "method": "POST", "status": "2xx"}, requests),
            (published, {"event_type": RequestSubmitted.event_type}, requests),
            (consumed, {"event_type": AuthorizationGranted.event_type, "outcome": "handled"}, requests),
            (consumed, {"event_type": VisaIssued.event_type, "outcome": "handled"}, people),
        ],
        "authorization": [
            (consumed, {"event_type": RequestSubmitted.event_type, "outcome": "handled"}, requests),
            (consumed, {"event_type": VisaIssued.event_type, "outcome": "handled"}, people),
            (published, {"event_type": AuthorizationGranted.event_type}, requests),
            ("faststream_received_messages_total", {}, requests + people),
        ],
        "issuance": [
            (consumed, {"event_type": AuthorizationGranted.event_type, "outcome": "handled"}, requests),
            (published, {"event_type": VisaIssued.event_type}, people),
            ("faststream_received_messages_total", {}, requests),
            ("faststream_published_messages_total", {"status": "success"}, people),
        ],
    }

    async def counted():
        found = {}
        for name, checks in expected.items():
            scraped = await scrape(urls[name])
            found[name] = [(metric, labels, total(scraped, metric, **labels)) for metric, labels, _ in checks]
            assert total(scraped, consumed, outcome="dead_lettered") == 0, name
        want = {name: [(metric, labels, float(n)) for metric, labels, n in checks] for name, checks in expected.items()}
        return found if found == want else None

    assert await eventually(counted, timeout=30)

    system.stop()  # the logs are complete once the processes have ended
    for name, service in system.services.items():
        text = service.log_path.read_text(errors="replace")
        for secret in PERSONAL:
            assert secret not in text.upper(), f"{name}'s log holds personal data ({secret})"
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert records, f"{name} wrote no JSON log line"
        assert {record["service"] for record in records} == {name}
        assert {record["level"] for record in records} <= {"INFO", "WARNING", "ERROR", "CRITICAL"}
        about = [record for record in records if record["request_id"] in request_ids]
        assert about, f"{name} logged nothing about the requests"
        assert all(len(record["trace_id"]) == 32 for record in about), about
