"""Periodic jobs: plain idempotent functions, one runner at a time per job (transaction-scoped advisory lock).

They run from `cookcam jobs run NAME` (cron, systemd timer, Kubernetes CronJob) and, for the single-machine
default, from an in-process scheduler in every worker; the lock makes concurrent runs harmless.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from app.db.pool import connect
from app.db.queries import auth as auth_q
from app.db.queries import jobs as q
from app.db.queries import ratelimit as ratelimit_q
from app.db.types import Connection

log = logging.getLogger("cookcam.jobs")

Job = Callable[[Connection], Awaitable[str]]


async def purge_expired(conn: Connection) -> str:
    """Delete refresh tokens past expiry and rate-limit windows older than a day."""
    now = datetime.datetime.now(datetime.UTC)
    tokens = await auth_q.purge_expired_refresh_tokens(conn, before=now)
    counters = await ratelimit_q.purge_rate_limit_counters(conn, before=now - datetime.timedelta(days=1))
    return f"purged {tokens} expired refresh token(s) and {counters} rate-limit window(s)"


JOBS: dict[str, Job] = {"purge-expired": purge_expired}


async def run_locked(conn: Connection, name: str) -> str:
    async with conn.transaction():
        if not await q.try_job_lock(conn, job_name=name):
            return f"{name}: another runner holds the lock; nothing done"
        return f"{name}: {await JOBS[name](conn)}"


async def run_job(name: str, dsn: str) -> str:
    conn = await connect(dsn)
    try:
        return await run_locked(conn, name)
    finally:
        await conn.close()


async def run_periodically(pool: asyncpg.Pool, interval_seconds: float, *, acquire_timeout: float = 30.0) -> None:
    """Run every job each interval until cancelled; a failing job is logged and retried next time."""
    while True:
        await asyncio.sleep(interval_seconds)
        for name in JOBS:
            try:
                async with pool.acquire(timeout=acquire_timeout) as conn:
                    log.info(await run_locked(conn, name))
            except (asyncpg.PostgresError, OSError, TimeoutError):
                log.exception("job %s failed", name)
