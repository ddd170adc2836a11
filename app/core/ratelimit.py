"""Fixed-window rate limits whose counters every worker and machine share (PostgreSQL, or Redis when set)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio as redis

from app.core.errors import TooManyRequests
from app.db.queries import ratelimit as q
from app.db.types import Connection


@dataclass(frozen=True)
class RateLimit:
    name: str
    limit: int
    window_seconds: int


class CounterStore(Protocol):
    async def hit(self, conn: Connection, bucket: str, window_start: int, window_seconds: int) -> int: ...


class PostgresCounters:
    """Counters in PostgreSQL, counted on the request's own connection: outside any transaction, so an attempt
    counts even when the request then fails, and without borrowing a second pooled connection."""

    async def hit(self, conn: Connection, bucket: str, window_start: int, window_seconds: int) -> int:
        hits = await q.hit_rate_limit(conn, bucket=bucket, window_start=datetime.fromtimestamp(window_start, UTC))
        assert hits is not None  # an upsert with RETURNING always returns its row
        return hits


class RedisCounters:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        # Short timeouts: a slow Redis must turn into a quick 503, not hang sign-ins.
        return cls(redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def hit(self, conn: Connection, bucket: str, window_start: int, window_seconds: int) -> int:
        key = f"ratelimit:{bucket}:{window_start}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds * 2)
            hits, _ = await pipe.execute()
        return int(hits)


class RateLimiter:
    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def check(self, conn: Connection, rule: RateLimit, subject: str, *, now: float | None = None) -> None:
        """Count one attempt for `subject` under `rule`; raise TooManyRequests past the limit."""
        moment = time.time() if now is None else now
        window_start = int(moment // rule.window_seconds) * rule.window_seconds
        # Buckets are stored pseudonymised: the counters table holds no emails or addresses.
        bucket = f"{rule.name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"
        hits = await self._store.hit(conn, bucket, window_start, rule.window_seconds)
        if hits > rule.limit:
            retry_after = int(window_start + rule.window_seconds - moment) + 1
            raise TooManyRequests(
                "RATE_LIMITED",
                f"Too many attempts; try again in {retry_after} seconds.",
                retry_after_seconds=retry_after,
            )
