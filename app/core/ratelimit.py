"""Fixed-window rate limits whose counters every worker and machine share (PostgreSQL, or Redis when set)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Counter:
    """One bucket's current window."""

    bucket: str
    window_start: int
    window_seconds: int


class CounterStore(Protocol):
    async def hit(self, conn: Connection, counters: Sequence[Counter]) -> dict[str, int]:
        """Add one to each counter; return each bucket's total in its window."""
        ...


class PostgresCounters:
    """Counters in PostgreSQL, counted on the request's own connection, without borrowing a second pooled one.
    Outside a transaction (sign-in attempts) an attempt counts even when the request then fails; inside the
    change's own transaction (notification budgets) it counts only if the change commits."""

    async def hit(self, conn: Connection, counters: Sequence[Counter]) -> dict[str, int]:
        rows = await q.hit_rate_limits(
            conn,
            buckets=[c.bucket for c in counters],
            window_starts=[datetime.fromtimestamp(c.window_start, UTC) for c in counters],
        )
        return {row.bucket: row.hits for row in rows}


class RedisCounters:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        # Short timeouts: a slow Redis must turn into a quick 503, not hang sign-ins.
        return cls(redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def hit(self, conn: Connection, counters: Sequence[Counter]) -> dict[str, int]:
        async with self._client.pipeline(transaction=True) as pipe:
            for counter in counters:
                key = f"ratelimit:{counter.bucket}:{counter.window_start}"
                pipe.incr(key)
                pipe.expire(key, counter.window_seconds * 2)
            results = await pipe.execute()
        return {counter.bucket: int(results[2 * i]) for i, counter in enumerate(counters)}


def pseudonym_key(signing_secret: str) -> bytes:
    """The key for bucket names, derived from the signing secret so that no extra secret must be configured;
    rotating the secret merely starts the rate-limit windows afresh."""
    return hashlib.sha256(b"cookcam-ratelimit-buckets:" + signing_secret.encode()).digest()


class RateLimiter:
    def __init__(self, store: CounterStore, pseudonym_key: bytes) -> None:
        self._store = store
        # Bucket names are keyed hashes of the subject: the counters hold no emails or addresses, and without the
        # key nobody can test guesses (all IPv4 addresses) against them.
        self._pseudonym_key = pseudonym_key

    async def check(
        self, conn: Connection, attempts: Sequence[tuple[RateLimit, str]], *, now: float | None = None
    ) -> None:
        """Count one attempt per (rule, subject), all in one round trip; raise TooManyRequests if any is past its
        limit, with the longest wait among them."""
        waits = await self._count(conn, attempts, now)
        if waits:
            retry_after = max(waits)
            raise TooManyRequests(
                "RATE_LIMITED",
                f"Too many attempts; try again in {retry_after} seconds.",
                retry_after_seconds=retry_after,
            )

    async def within(
        self, conn: Connection, attempts: Sequence[tuple[RateLimit, str]], *, now: float | None = None
    ) -> bool:
        """Count like check(), but answer whether every (rule, subject) is within its limit instead of raising:
        for what is skipped rather than refused past a limit (a notification to someone else)."""
        return not await self._count(conn, attempts, now)

    async def _count(self, conn: Connection, attempts: Sequence[tuple[RateLimit, str]], now: float | None) -> list[int]:
        """Count one attempt per (rule, subject); the seconds to wait for each that is past its limit."""
        moment = time.time() if now is None else now
        counters = {}
        for rule, subject in attempts:
            digest = hmac.new(self._pseudonym_key, subject.encode(), hashlib.sha256).hexdigest()[:32]
            bucket = f"{rule.name}:{digest}"
            window_start = int(moment // rule.window_seconds) * rule.window_seconds
            counters[bucket] = (rule, Counter(bucket, window_start, rule.window_seconds))
        totals = await self._store.hit(conn, [counter for _, counter in counters.values()])
        return [
            int(counter.window_start + counter.window_seconds - moment) + 1
            for bucket, (rule, counter) in counters.items()
            if totals[bucket] > rule.limit
        ]
