"""The treaty cache a service reads through, wired to its Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.settings import CommonSettings

from .cache import KEY_PREFIX, TreatyCache


def treaty_cache(settings: CommonSettings) -> TreatyCache:
    # Short timeouts: with Redis gone, an answer from the source is better than a slow one.
    redis = Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return TreatyCache(redis, key_prefix=f"{settings.visa_namespace}{KEY_PREFIX}")
