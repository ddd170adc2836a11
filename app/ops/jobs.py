"""Periodic jobs: plain idempotent functions, one runner at a time per job (transaction-scoped advisory lock).

They run from `cookcam jobs run NAME` (cron, systemd timer, Kubernetes CronJob) and, for the single-machine
default, from an in-process scheduler in every worker; the lock makes concurrent runs harmless.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from app.billing.inbox.recovery import retry_unfinished_events
from app.billing.providers import PaymentProviders
from app.billing.reconcile import reconcile
from app.creators.billing_hooks import billing_hooks
from app.creators.payouts import retry_pending_payouts
from app.db.pool import create_pool
from app.db.queries import analytics as analytics_q
from app.db.queries import auth as auth_q
from app.db.queries import events as events_q
from app.db.queries import generation as generation_q
from app.db.queries import jobs as q
from app.db.queries import live as live_q
from app.db.queries import ratelimit as ratelimit_q
from app.db.queries import scans as scans_q
from app.db.types import Connection, ConnectionSource
from app.gamification.leaderboards import fold_rank_counts
from app.live import service as live
from app.settings import DatabaseSettings, JobsSettings, Settings

log = logging.getLogger("cookcam.jobs")

ACQUIRE_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class JobContext:
    """`conn` holds the job's lock (inside its transaction); work that must commit on its own uses `connect`."""

    conn: Connection
    connect: ConnectionSource
    settings: Settings
    payments: PaymentProviders


Job = Callable[[JobContext], Awaitable[str]]


async def purge_expired(job: JobContext) -> str:
    """Delete refresh tokens past expiry and rate-limit windows older than a day; drop the payloads of provider
    events processed longer ago than the retention period, scan images past their expiry and expired cached
    AI generations; delete analytics events older than ANALYTICS_RETENTION_DAYS; end live sessions active for longer
    than LIVE_MAX_DURATION_HOURS and delete those ended more than LIVE_RETENTION_DAYS ago."""
    now = datetime.datetime.now(datetime.UTC)
    tokens = await auth_q.purge_expired_refresh_tokens(job.conn, before=now)
    counters = await ratelimit_q.purge_rate_limit_counters(job.conn, before=now - datetime.timedelta(days=1))
    retention = datetime.timedelta(days=job.settings.billing.event_payload_retention_days)
    payloads = await events_q.redact_processed_event_payloads(job.conn, before=now - retention)
    images = await scans_q.purge_expired_scan_images(job.conn, before=now)
    generations = await generation_q.purge_expired_generations(job.conn, before=now)
    analytics_retention = datetime.timedelta(days=job.settings.analytics.retention_days)
    events = await analytics_q.purge_expired_analytics_events(job.conn, before=now - analytics_retention)
    live_sessions = job.settings.live
    overdue = await live.end_overdue(
        job.conn, started_before=now - datetime.timedelta(hours=live_sessions.max_duration_hours)
    )
    gone = await live_q.purge_ended_live_sessions(
        job.conn, before=now - datetime.timedelta(days=live_sessions.retention_days)
    )
    return (
        f"purged {tokens} expired refresh token(s) and {counters} rate-limit window(s); "
        f"redacted {payloads} provider event payload(s); dropped {images} expired scan image(s) and "
        f"{generations} expired cached generation(s); deleted {events} analytics event(s) past retention; "
        f"ended {overdue} live session(s) past their time and deleted {gone} ended past retention"
    )


async def retry_events(job: JobContext) -> str:
    """Process again the provider events that failed or were left claimed by a crashed worker, and send again the
    creator payouts whose outcome is unknown (same idempotency key: Stripe makes the transfer once)."""
    events = await retry_unfinished_events(job.conn, job.connect, job.settings, job.payments)
    return f"{events}; {await retry_pending_payouts(job.connect, job.payments.stripe.client)}"


async def reconcile_subscriptions(job: JobContext) -> str:
    """Compare every live subscription with its provider, fix drift, and recover unfinished events."""
    return await reconcile(job.conn, job.connect, job.settings, job.payments)


async def fold_leaderboards(job: JobContext) -> str:
    """Fold the rank counts the boards' triggers appended, so that a rank sums one row per XP value."""
    return await fold_rank_counts(job.conn)


@dataclass(frozen=True)
class Scheduled:
    """A job and how often the in-process scheduler runs it."""

    run: Job
    interval: Callable[[JobsSettings], float] = lambda jobs: jobs.interval_seconds


JOBS: dict[str, Scheduled] = {
    "purge-expired": Scheduled(purge_expired),
    "retry-events": Scheduled(retry_events),
    "reconcile": Scheduled(reconcile_subscriptions),
    # Ranks sum what was appended since the last fold: folded far more often than the hourly jobs.
    "fold-leaderboards": Scheduled(fold_leaderboards, lambda jobs: jobs.fold_leaderboards_seconds),
}


async def run_locked(name: str, pool: asyncpg.Pool, settings: Settings, payments: PaymentProviders) -> str:
    def connect() -> asyncpg.pool.PoolAcquireContext:
        return pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)

    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn, conn.transaction():
        if not await q.try_job_lock(conn, job_name=name):
            return f"{name}: another runner holds the lock; nothing done"
        return f"{name}: {await JOBS[name].run(JobContext(conn, connect, settings, payments))}"


async def run_job(name: str, dsn: str, settings: Settings) -> str:
    pool = await create_pool(dsn, DatabaseSettings(pool_min_size=1, pool_max_size=3))
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        return await run_locked(name, pool, settings, payments)
    finally:
        await payments.close()
        await pool.close()


async def run_periodically(pool: asyncpg.Pool, settings: Settings, payments: PaymentProviders) -> None:
    """Run every job at its interval until cancelled; a failing job is logged and retried next time."""
    async with asyncio.TaskGroup() as jobs:
        for name, scheduled in JOBS.items():
            jobs.create_task(_every(scheduled.interval(settings.jobs), name, pool, settings, payments))


async def _every(seconds: float, name: str, pool: asyncpg.Pool, settings: Settings, payments: PaymentProviders) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            log.info(await run_locked(name, pool, settings, payments))
        except (asyncpg.PostgresError, OSError, TimeoutError):
            log.exception("job %s failed", name)
