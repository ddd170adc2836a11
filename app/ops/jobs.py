"""Periodic jobs: plain idempotent functions, one runner at a time per job (transaction-scoped advisory lock)."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable

import asyncpg

from app.db.queries import auth as auth_q
from app.db.queries import jobs as q
from app.db.queries import ratelimit as ratelimit_q
from app.db.types import Connection

Job = Callable[[Connection], Awaitable[str]]


async def purge_expired(conn: Connection) -> str:
    """Delete refresh tokens past expiry and rate-limit windows older than a day."""
    now = datetime.datetime.now(datetime.UTC)
    tokens = await auth_q.purge_expired_refresh_tokens(conn, before=now)
    counters = await ratelimit_q.purge_rate_limit_counters(conn, before=now - datetime.timedelta(days=1))
    return f"purged {tokens} expired refresh token(s) and {counters} rate-limit window(s)"


JOBS: dict[str, Job] = {"purge-expired": purge_expired}


async def run_job(name: str, dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if not await q.try_job_lock(conn, job_name=name):
                return f"{name}: another runner holds the lock; nothing done"
            return f"{name}: {await JOBS[name](conn)}"
    finally:
        await conn.close()
