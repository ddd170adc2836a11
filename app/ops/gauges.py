"""Gauges read from live objects (pool size, open sockets), refreshed on a timer and on every scrape."""

from __future__ import annotations

import asyncio

import asyncpg

from app.core import metrics
from app.realtime.hub import Hub

REFRESH_SECONDS = 5.0


def update_gauges(pool: asyncpg.Pool, hub: Hub) -> None:
    metrics.record_build_info()  # in each worker, which writes its own values
    metrics.POOL_SIZE.set(pool.get_size())
    metrics.POOL_IDLE.set(pool.get_idle_size())
    metrics.POOL_MAX.set(pool.get_max_size())
    metrics.WEBSOCKETS.set(hub.socket_count())


async def refresh_gauges_forever(pool: asyncpg.Pool, hub: Hub) -> None:
    """Each worker refreshes its own values, so a scrape answered by any worker sums current figures."""
    while True:
        update_gauges(pool, hub)
        await asyncio.sleep(REFRESH_SECONDS)
