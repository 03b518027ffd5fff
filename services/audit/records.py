"""What intake and issuance hold now, read page by page through their audit APIs with an auditor's key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

PAGE_SIZE = 1000  # the most either service serves at once: the fewest round trips
WAITS = 5  # 429 (rate limited) or 503 (database restarting) in a row before giving up


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), 60.0)
    except ValueError:
        return 1.0


class AuditReadError(RuntimeError):
    """A service's records could not be read: unreachable, the key refused, or not an audit API."""


async def _pages(
    base_url: str, key: str, path: str, items: str, *, page_size: int, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each page's ``items``, following ``next`` until the service says there is none."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport, timeout=30) as client:
        after: str | None = None
        waited = 0
        while True:
            params: dict[str, Any] = {"limit": page_size} | ({"after": after} if after is not None else {})
            try:
                response = await client.get(path, params=params)
            except httpx.TransportError as error:
                raise AuditReadError(f"cannot reach {base_url}: {type(error).__name__}: {error}") from error
            if response.status_code in (429, 503) and waited < WAITS:
                # The key's rate limit, or a database restarting: wait as the service says, then ask again.
                waited += 1
                await asyncio.sleep(_retry_after(response))
                continue
            waited = 0
            if response.status_code == 401:
                raise AuditReadError(f"{base_url} refused the key (401): it needs an auditor's (`visa auditors add`)")
            if response.status_code != 200:
                raise AuditReadError(f"GET {response.url} answered {response.status_code}: {response.text[:200]}")
            try:
                page = response.json()
                batch, cursor = page[items], page["next"]
            except (ValueError, KeyError, TypeError) as error:
                raise AuditReadError(f"GET {response.url} did not answer an audit page: {error!r}") from error
            yield batch
            if cursor is None:
                return
            if cursor == after:  # a cursor that does not move would page forever
                raise AuditReadError(f"GET {response.url} returned its own cursor as the next one")
            after = cursor


async def fetch_requests(
    intake_url: str, key: str, *, page_size: int = PAGE_SIZE, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, dict[str, Any]]:
    """Every request at intake: ``{request_id: {"status": status, "people": {person_id: status}}}``."""
    records: dict[str, dict[str, Any]] = {}
    pages = _pages(intake_url, key, "/v1/audit/requests", "requests", page_size=page_size, transport=transport)
    async with aclosing(pages):  # the HTTP client closes even if a page is malformed
        async for page in pages:
            for item in page:
                people = {person["person_id"]: person["status"] for person in item["people"]}
                records[item["request_id"]] = {"status": item["status"], "people": people}
    return records


async def fetch_visas(
    issuance_url: str, key: str, *, page_size: int = PAGE_SIZE, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, dict[str, Any]]:
    """Every visa record at issuance, by number (each record as ``GET /v1/audit/visas`` lists it)."""
    records: dict[str, dict[str, Any]] = {}
    pages = _pages(issuance_url, key, "/v1/audit/visas", "visas", page_size=page_size, transport=transport)
    async with aclosing(pages):
        async for page in pages:
            records.update((visa["number"], visa) for visa in page)
    return records
