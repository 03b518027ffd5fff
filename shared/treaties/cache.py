"""Cache-aside for the treaty list, so a decree published once reaches every service.

Keys: ``{prefix}:version`` names the current list; ``{prefix}:{version}`` holds it.
The prefix ends in the list's format (``visa:treaties:v2``, ``model.LIST_FORMAT``): releases
that read entries differently keep their lists apart, so neither misreads the other's.
Redis is a convenience here, never a dependency: when it is down, rules keep
running on the list this process last saw or on the bundled one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.treaties.model import LIST_FORMAT, VERSION_PATTERN, TreatyList, load_bundled

log = logging.getLogger("visa.treaties")

KEY_PREFIX = f"visa:treaties:v{LIST_FORMAT}"

_UNAVAILABLE = (RedisError, OSError, asyncio.TimeoutError)


def _text(value: bytes | str | None) -> str | None:
    # The caller's client may or may not use decode_responses; garbage must not raise.
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


class TreatyCache:
    def __init__(
        self,
        redis: Redis | None,
        source: Callable[[], TreatyList] = load_bundled,
        *,
        key_prefix: str = KEY_PREFIX,
        ttl_seconds: int = 86400,
        retry_after_seconds: float = 5.0,
    ) -> None:
        self._redis = redis
        self._source = source
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._source_list: TreatyList | None = None
        self._held: TreatyList | None = None
        self._redis_up: bool | None = None  # None until the first call: an outage at start still warns
        # During an outage Redis is left alone for a while, so that no caller waits for its timeouts.
        self._retry_after = retry_after_seconds
        self._retry_at = 0.0

    def _key(self, suffix: str) -> str:
        return f"{self._prefix}:{suffix}"  # suffix is "version" or a version string

    async def current(self) -> TreatyList:
        """The newest list known to the cache or the source; never raises for Redis trouble."""
        if self._redis_up is False and time.monotonic() < self._retry_at:
            return self._fallback()
        try:
            if self._redis is None:
                raise RedisError("no Redis client configured")
            treaties = await self._read_through()
        except _UNAVAILABLE as exc:
            self._went_down(repr(exc))
            return self._fallback()
        self._came_back()
        return treaties

    async def publish(self, treaties: TreatyList) -> None:
        """Make ``treaties`` every service's list from its next ``current()`` on.

        Raises when Redis is unavailable: a publish that silently did not happen
        would leave every service on the old decree unnoticed.
        """
        if self._redis is None:
            raise RuntimeError("cannot publish treaties without a Redis client")
        await self._write(treaties)
        self._held = treaties

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _read_through(self) -> TreatyList:
        version = _text(await self._redis.get(self._key("version")))
        if self._held is not None and version == self._held.version:
            return self._held  # the common case: one GET, no body transfer, no parsing
        cached = await self._fetch(version) if version is not None else None
        source = self._source_once()
        # A newer source means a new release is starting: it must propagate its list.
        if cached is None or source.order > cached.order:
            await self._write(source)
            cached = source
        self._held = cached
        return cached

    async def _fetch(self, version: str) -> TreatyList | None:
        if not re.fullmatch(VERSION_PATTERN, version):
            log.warning("bad treaty version %r at %s, replacing it from the source", version, self._key("version"))
            return None
        body = await self._redis.get(self._key(version))
        if body is None:
            return None  # body expired (TTL) or evicted
        try:
            treaties = TreatyList.model_validate_json(body)
            if treaties.version != version:
                raise ValueError(f"body says version {treaties.version}")
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            log.warning("corrupt treaty list at %s, replacing it from the source: %s", self._key(version), exc)
            return None
        return treaties

    async def _write(self, treaties: TreatyList) -> None:
        # Body before version, in one MULTI/EXEC: no reader can see a version without its body.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(treaties.version), treaties.model_dump_json(), ex=self._ttl)
            pipe.set(self._key("version"), treaties.version)
            await pipe.execute()

    def _source_once(self) -> TreatyList:
        # The source is the release's bundled list: it cannot change under a running process.
        if self._source_list is None:
            self._source_list = self._source()
        return self._source_list

    def _fallback(self) -> TreatyList:
        # Prefer the last list seen in Redis when it is at least as new: a Redis blip
        # must not roll this service back to an older decree than its peers apply.
        source = self._source_once()
        if self._held is not None and self._held.order >= source.order:
            return self._held
        return source

    def _went_down(self, reason: str) -> None:
        level = logging.DEBUG if self._redis_up is False else logging.WARNING
        log.log(level, "treaty cache unavailable (%s); serving the last seen or bundled list", reason)
        self._redis_up = False
        self._retry_at = time.monotonic() + self._retry_after

    def _came_back(self) -> None:
        if self._redis_up is False:
            log.info("treaty cache reachable again")
        self._redis_up = True
