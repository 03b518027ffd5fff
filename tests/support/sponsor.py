"""A sponsor's client as a careful one behaves during faults: it retries with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def submit_until_accepted(
    intake: httpx.AsyncClient,
    body: dict[str, Any],
    headers: dict[str, str],
    idempotency_key: str,
    *,
    timeout: float = 90.0,
    refusals: list[str] | None = None,
) -> str:
    """POST ``body`` until intake accepts it; its request id. No answer (intake down), 429 and 503 are
    retried with the same Idempotency-Key, so a request committed just before a crash is answered from its
    record and never submitted twice; ``refusals`` collects the 429s and 503s met."""
    retry = {**headers, "Idempotency-Key": idempotency_key}
    async with asyncio.timeout(timeout):
        while True:
            try:
                answer = await intake.post("/v1/requests", json=body, headers=retry)
            except httpx.TransportError:
                await asyncio.sleep(0.2)  # no answer: back off as a client would
                continue
            if answer.status_code in (429, 503):
                # "Try later": after Retry-After (capped: the faults here are short).
                if refusals is not None:
                    refusals.append(f"{answer.status_code} {answer.text}")
                await asyncio.sleep(min(float(answer.headers.get("Retry-After", 0.2)), 0.5))
                continue
            assert answer.status_code == 202, f"{idempotency_key}: {answer.status_code} {answer.text}"
            return answer.json()["request_id"]
