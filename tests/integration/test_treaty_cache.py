"""TreatyCache against the real Redis named by REDIS_URL.

These tests fail, not skip, when that Redis is unreachable: a cache that silently
falls back to its source would otherwise make them pass without testing anything,
hence the explicit ping at the start of each one.
"""

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.treaties import TreatyCache, TreatyList, load_bundled

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def release(version: str) -> TreatyList:
    day = dt.date.fromisoformat(version.partition(".")[0])
    return load_bundled().model_copy(update={"version": version, "published": day})


class CountingSource:
    def __init__(self, treaties: TreatyList) -> None:
        self.treaties = treaties
        self.calls = 0

    def __call__(self) -> TreatyList:
        self.calls += 1
        return self.treaties


class Switchable:
    """The real client behind a switch, to stage an outage and its end."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.down = False

    def __getattr__(self, name: str):
        if self.down:
            raise RedisConnectionError("simulated outage")
        return getattr(self.client, name)


async def _connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = await _connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def other_client(redis_url: str) -> AsyncIterator[Redis]:
    """A second connection, standing for another service."""
    client = await _connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: Redis) -> AsyncIterator[str]:
    prefix = f"test:visa:treaties:{uuid.uuid4().hex}"
    yield prefix
    # The test itself already failed if Redis is down; don't add a teardown error to it.
    with contextlib.suppress(RedisConnectionError):
        keys = [key async for key in redis_client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)


async def test_miss_populates_version_and_body(redis_client: Redis, prefix: str) -> None:
    await redis_client.ping()
    bundled = load_bundled()
    cache = TreatyCache(redis_client, key_prefix=prefix, ttl_seconds=600)

    assert await cache.current() == bundled

    assert await redis_client.get(f"{prefix}:version") == bundled.version.encode()
    body = await redis_client.get(f"{prefix}:{bundled.version}")
    assert TreatyList.model_validate_json(body) == bundled
    assert 0 < await redis_client.ttl(f"{prefix}:{bundled.version}") <= 600


async def test_second_call_uses_neither_source_nor_body(redis_client: Redis, prefix: str) -> None:
    await redis_client.ping()
    source = CountingSource(release("2026-11-26.1"))
    cache = TreatyCache(redis_client, source, key_prefix=prefix)
    first = await cache.current()
    # Without the body, only the in-memory copy can answer: proves the version key alone was read.
    await redis_client.delete(f"{prefix}:2026-11-26.1")

    assert await cache.current() is first
    assert source.calls == 1
    assert await redis_client.exists(f"{prefix}:2026-11-26.1") == 0


async def test_publish_reaches_another_instance(redis_client: Redis, other_client: Redis, prefix: str) -> None:
    await redis_client.ping()
    publisher = TreatyCache(redis_client, CountingSource(release("2026-11-26.1")), key_prefix=prefix)
    reader = TreatyCache(other_client, CountingSource(release("2026-11-26.1")), key_prefix=prefix)
    assert (await reader.current()).version == "2026-11-26.1"

    await publisher.publish(release("2026-12-03.1"))

    assert (await reader.current()).version == "2026-12-03.1"
    assert (await publisher.current()).version == "2026-12-03.1"


async def test_newer_source_wins_and_older_source_does_not_roll_back(
    redis_client: Redis, other_client: Redis, prefix: str
) -> None:
    await redis_client.ping()
    old_release = TreatyCache(redis_client, CountingSource(release("2026-11-26.9")), key_prefix=prefix)
    assert (await old_release.current()).version == "2026-11-26.9"

    # ".10" must sort after ".9": a string comparison would keep the old list.
    new_release = TreatyCache(other_client, CountingSource(release("2026-11-26.10")), key_prefix=prefix)
    assert (await new_release.current()).version == "2026-11-26.10"
    assert await redis_client.get(f"{prefix}:version") == b"2026-11-26.10"

    assert (await old_release.current()).version == "2026-11-26.10"
    assert await redis_client.get(f"{prefix}:version") == b"2026-11-26.10"


CORRUPT_BODIES = [
    b"not json {",
    b'{"version": "2026-11-26.1"}',  # schema
    b'{"version": "2026-01-01.1", "published": "2026-01-01", "entries": []}',  # not the version it is filed under
]


@pytest.mark.parametrize("body", CORRUPT_BODIES, ids=["json", "schema", "version"])
async def test_corrupt_body_is_replaced_from_the_source(
    redis_client: Redis, prefix: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_client.ping()
    await redis_client.set(f"{prefix}:2026-11-26.1", body)
    await redis_client.set(f"{prefix}:version", "2026-11-26.1")
    bundled = load_bundled()
    cache = TreatyCache(redis_client, key_prefix=prefix)

    with caplog.at_level(logging.WARNING, logger="visa.treaties"):
        assert await cache.current() == bundled

    assert any(r.levelno == logging.WARNING and "corrupt" in r.getMessage() for r in caplog.records)
    repaired = await redis_client.get(f"{prefix}:{bundled.version}")
    assert TreatyList.model_validate_json(repaired) == bundled


async def test_garbage_version_key_is_replaced(
    redis_client: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_client.ping()
    await redis_client.set(f"{prefix}:version", "latest")
    cache = TreatyCache(redis_client, key_prefix=prefix)

    with caplog.at_level(logging.WARNING, logger="visa.treaties"):
        assert await cache.current() == load_bundled()

    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert await redis_client.get(f"{prefix}:version") == load_bundled().version.encode()


async def test_closed_port_serves_the_source_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis.from_url(CLOSED_PORT_URL, socket_connect_timeout=0.2, socket_timeout=0.2)
    source = CountingSource(release("2026-11-26.1"))
    cache = TreatyCache(client, source, key_prefix=f"test:visa:treaties:{uuid.uuid4().hex}", retry_after_seconds=0)
    try:
        with caplog.at_level(logging.DEBUG, logger="visa.treaties"):
            assert await cache.current() == source.treaties
            assert await cache.current() == source.treaties
    finally:
        await client.aclose()

    levels = [r.levelno for r in caplog.records if r.name == "visa.treaties"]
    assert levels == [logging.WARNING, logging.DEBUG]


async def test_without_redis_serves_the_source_and_cannot_publish(caplog: pytest.LogCaptureFixture) -> None:
    cache = TreatyCache(None)
    with caplog.at_level(logging.WARNING, logger="visa.treaties"):
        assert await cache.current() == load_bundled()
    assert [r.levelno for r in caplog.records if r.name == "visa.treaties"] == [logging.WARNING]
    with pytest.raises(RuntimeError):
        await cache.publish(load_bundled())


async def test_outage_keeps_the_last_seen_list_and_logs_recovery(
    redis_client: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_client.ping()
    switch = Switchable(redis_client)
    source = CountingSource(release("2026-11-26.1"))
    cache = TreatyCache(switch, source, key_prefix=prefix, retry_after_seconds=0)  # type: ignore[arg-type]
    await cache.publish(release("2026-12-03.1"))

    with caplog.at_level(logging.DEBUG, logger="visa.treaties"):
        assert (await cache.current()).version == "2026-12-03.1"
        switch.down = True
        # A blip must not roll this service back to the older bundled decree.
        assert (await cache.current()).version == "2026-12-03.1"
        assert (await cache.current()).version == "2026-12-03.1"
        switch.down = False
        assert (await cache.current()).version == "2026-12-03.1"

    levels = [r.levelno for r in caplog.records if r.name == "visa.treaties"]
    assert levels == [logging.WARNING, logging.DEBUG, logging.INFO]
