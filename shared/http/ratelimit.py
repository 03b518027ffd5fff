"""Rate limits: per client address and per API key on every route, and per account where a route asks.

Limits are counted with the ``limits`` library's moving window in memory: **per process**. Each replica of
a service counts on its own, so N replicas behind one load balancer let through up to N times a limit; an
operator who needs one count across replicas gives ``limits`` a shared storage (Redis), which this module
does not do. A refusal is a 429 with ``Retry-After`` (seconds until the window lets the next request in).

The client address is the ASGI ``client`` (uvicorn's, which honours ``X-Forwarded-For`` only from the proxies
it trusts, ``--forwarded-allow-ips``). A key is counted by its SHA-256, whether or not it is a valid key:
a stream of wrong keys from one address is stopped by the address's limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.i18n import N_, Message

from .errors import send_error

log = logging.getLogger("visa.http")

# Probes of the orchestrator: never throttled, so that a flood cannot make a healthy replica look dead.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# The words of a refusal's limit ("120 per 1 minute per address"), as catalog msgids.
_WORDS = frozenset(
    {
        N_("second"),
        N_("minute"),
        N_("hour"),
        N_("day"),
        N_("month"),
        N_("year"),
        N_("address"),
        N_("key"),
        N_("verifier"),
    }
)


def _word(word: str) -> Message | str:
    return Message(word) if word in _WORDS else word


@dataclass(frozen=True)
class Refusal:
    limit: RateLimitItem
    per: str  # "key", "address", "verifier", …
    retry_after: int

    @property
    def detail(self) -> Message:
        item = self.limit
        return Message(
            "too many requests: at most {amount} per {multiples} {granularity} per {per}; retry after {seconds} s",
            amount=item.amount,
            multiples=item.multiples,
            granularity=_word(item.GRANULARITY.name),
            per=_word(self.per),
            seconds=self.retry_after,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def exception(self) -> HTTPException:
        return HTTPException(429, detail=self.detail, headers=self.headers)


class RateLimits:
    """One process's rate-limit counters (moving windows, in memory: see the module's docstring)."""

    def __init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}
        self._warned: dict[tuple[str, str], float] = {}  # who was told 429, until when: one warning a window
        self._lock = threading.Lock()

    def item(self, limit: str) -> RateLimitItem:
        if (item := self._items.get(limit)) is None:
            item = self._items[limit] = parse(limit)
        return item

    def hit(self, limit: str, per: str, identity: str, *, shown: str | None = None) -> Refusal | None:
        """Count one request of ``identity`` against ``limit``; a ``Refusal`` once the limit is reached.

        ``shown`` is how a refusal's warning names the identity (default: the identity itself)."""
        item = self.item(limit)
        if self.limiter.hit(item, per, identity):
            return None
        reset, _ = self.limiter.get_window_stats(item, per, identity)
        now = time.time()
        refusal = Refusal(item, per, max(1, math.ceil(reset - now)))
        self._warn_once(refusal, identity, shown or identity, now)
        return refusal

    def _warn_once(self, refusal: Refusal, identity: str, shown: str, now: float) -> None:
        with self._lock:
            if self._warned.get((refusal.per, identity), 0) > now:
                return
            if len(self._warned) > 10_000:
                self._warned = {who: until for who, until in self._warned.items() if until > now}
            self._warned[(refusal.per, identity)] = now + refusal.limit.get_expiry()
        log.warning("rate limit: %s %s reached %s; answering 429", refusal.per, shown, refusal.limit)


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return key.strip() or None
    return None


class RateLimitMiddleware:
    """Per-address and per-key limits on every route but the probes, before the body is read."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits, per_key: str, per_address: str) -> None:
        self.app = app
        self.limits = limits
        self.per_key = per_key
        self.per_address = per_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        refusal = self.limits.hit(self.per_address, "address", address)
        if refusal is None and (key := _bearer(scope.get("headers", []))) is not None:
            digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
            # Named in a warning by the first characters of the stored hash: never the key itself.
            refusal = self.limits.hit(self.per_key, "key", digest, shown=f"sha256:{digest[:12]} from {address}")
        if refusal is not None:
            await send_error(send, 429, refusal.detail, refusal.headers)
            return
        await self.app(scope, receive, send)


def limited_per_account(account: Callable[..., Any], *, setting: str, per: str) -> Callable[..., Any]:
    """A FastAPI dependency: the ``account`` dependency's account, counted against the limit that the
    service's setting ``setting`` names (one count per account id); 429 once it is reached."""

    async def dependency(request: Request, holder: Any = Depends(account)) -> Any:
        limit = getattr(request.app.state.settings, setting)
        refusal = request.app.state.rate_limits.hit(limit, per, holder.id)
        if refusal is not None:
            raise refusal.exception()
        return holder

    return dependency
