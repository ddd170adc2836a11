"""The AI generation cache with single flight: identical requests (same key) reuse one stored answer until it
expires, and concurrent identical requests on any worker or machine make one model call.

The first request claims the key (a `pending` row with a lease) and generates; the others poll for the answer
without holding a database connection while they wait. A failed generation is released (nothing is cached), and a
claim whose worker died is taken over when its lease runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from app.core import metrics
from app.core.errors import ServiceUnavailable
from app.db.queries import generation as q
from app.db.types import Connection, ConnectionSource

Kind = Literal["previews", "recipe"]
LEASE_SECONDS = 120.0
POLL_SECONDS = 0.2


def cache_key(kind: Kind, parts: Any) -> str:
    """sha256 of the canonical JSON of everything that determines the answer."""
    return hashlib.sha256(msgspec.json.encode({"kind": kind, "parts": parts}, order="sorted")).hexdigest()


async def read_cached(conn: Connection, key: str, kind: Kind, *, waited: bool = False) -> Any | None:
    """The stored answer, if ready and unexpired (counted as a hit, or as a wait that ended in one)."""
    ready = await q.read_generation(conn, cache_key=key)
    if ready is None:
        return None
    count_hit(kind, waited=waited)
    return ready.value


def count_hit(kind: Kind, *, waited: bool = False) -> None:
    """A stored answer served: at once (hit), or after waiting for another request's generation (waited)."""
    metrics.GENERATION_CACHE.labels(kind, "waited" if waited else "hit").inc()


async def cached(
    connect: ConnectionSource,
    key: str,
    kind: Kind,
    compute: Callable[[], Awaitable[tuple[Any, str]]],
    *,
    ttl_seconds: int,
    wait_seconds: float,
) -> tuple[Any, bool]:
    """(value, True) from the cache, or (value, False) after computing it; `compute` returns (value, model)."""
    deadline = time.monotonic() + wait_seconds
    waited = False
    while True:
        async with connect() as conn:
            ready = await read_cached(conn, key, kind, waited=waited)
            if ready is not None:
                return ready, True
            claimed = await q.claim_generation(conn, cache_key=key, kind=kind, lease_seconds=LEASE_SECONDS)
        if claimed is not None:
            return await _generate(connect, key, kind, compute, ttl_seconds), False
        if time.monotonic() > deadline:
            raise ServiceUnavailable("GENERATION_BUSY", "An identical request is still being generated; try again.")
        waited = True
        await asyncio.sleep(POLL_SECONDS)


async def _generate(
    connect: ConnectionSource, key: str, kind: Kind, compute: Callable[[], Awaitable[tuple[Any, str]]], ttl: int
) -> Any:
    try:
        value, model = await compute()
    except BaseException:
        async with connect() as conn:
            await q.release_generation(conn, cache_key=key)
        raise
    async with connect() as conn:
        await q.store_generation(conn, cache_key=key, answer=value, model=model, ttl_seconds=ttl)
    metrics.GENERATION_CACHE.labels(kind, "miss").inc()
    return value
