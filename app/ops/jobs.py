"""Periodic jobs: plain idempotent functions, one runner at a time per job (an advisory lock on a connection of the
runner's own, so the jobs that ask providers hold no pooled connection and no transaction while they wait).

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
import msgspec

from app.billing.inbox.recovery import retry_unfinished_events
from app.billing.providers import PaymentProviders
from app.billing.reconcile import reconcile
from app.core.mail.delivery import send_due_emails, transport_for
from app.creators.billing_hooks import billing_hooks
from app.creators.payouts import retry_pending_payouts
from app.db.pool import connect as open_connection
from app.db.pool import create_pool
from app.db.queries import analytics as analytics_q
from app.db.queries import auth as auth_q
from app.db.queries import email as email_q
from app.db.queries import events as events_q
from app.db.queries import generation as generation_q
from app.db.queries import jobs as q
from app.db.queries import live as live_q
from app.db.queries import ratelimit as ratelimit_q
from app.db.queries import reconcile as reconcile_q
from app.db.queries import recovery as recovery_q
from app.db.queries import scans as scans_q
from app.db.types import Connection, ConnectionSource
from app.gamification.leaderboards import fold_rank_counts
from app.live import service as live
from app.settings import DatabaseSettings, JobsSettings, Settings

log = logging.getLogger("cookcam.jobs")

ACQUIRE_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class JobContext:
    """What a job runs with while its runner holds the job's lock: `connect` borrows a pooled connection around the
    job's statements."""

    connect: ConnectionSource
    settings: Settings
    payments: PaymentProviders


Job = Callable[[JobContext], Awaitable[str]]


async def purge_expired(job: JobContext) -> str:
    """Delete refresh tokens past expiry and rate-limit windows older than a day; drop the payloads of provider
    events processed longer ago than the retention period, scan images past their expiry and expired cached
    AI generations; delete analytics events older than ANALYTICS_RETENTION_DAYS; end live sessions active for longer
    than LIVE_MAX_DURATION_HOURS and delete those ended more than LIVE_RETENTION_DAYS ago; delete the rows of emails
    sent more than MAIL_SENT_RETENTION_DAYS ago and the reset and verification links expired for more than a day;
    delete reconciliation's per-run provider figures older than RECONCILE_RESULTS_RETENTION_DAYS (the totals that
    /metrics reads keep them)."""
    async with job.connect() as conn, conn.transaction():
        return await _purge(conn, job.settings)


async def _purge(conn: Connection, settings: Settings) -> str:
    now = datetime.datetime.now(datetime.UTC)
    tokens = await auth_q.purge_expired_refresh_tokens(conn, before=now)
    counters = await ratelimit_q.purge_rate_limit_counters(conn, before=now - datetime.timedelta(days=1))
    retention = datetime.timedelta(days=settings.billing.event_payload_retention_days)
    payloads = await events_q.redact_processed_event_payloads(conn, before=now - retention)
    images = await scans_q.purge_expired_scan_images(conn, before=now)
    generations = await generation_q.purge_expired_generations(conn, before=now)
    analytics_retention = datetime.timedelta(days=settings.analytics.retention_days)
    events = await analytics_q.purge_expired_analytics_events(conn, before=now - analytics_retention)
    live_sessions = settings.live
    overdue = await live.end_overdue(
        conn, started_before=now - datetime.timedelta(hours=live_sessions.max_duration_hours)
    )
    gone = await live_q.purge_ended_live_sessions(
        conn, before=now - datetime.timedelta(days=live_sessions.retention_days)
    )
    links = await recovery_q.purge_expired_account_tokens(conn, before=now - datetime.timedelta(days=1))
    emails = await email_q.purge_sent_emails(
        conn, before=now - datetime.timedelta(days=settings.mail.sent_retention_days)
    )
    results = await reconcile_q.purge_reconciliation_provider_results(
        conn, before=now - datetime.timedelta(days=settings.reconcile.results_retention_days)
    )
    return (
        f"purged {tokens} expired refresh token(s) and {counters} rate-limit window(s); "
        f"redacted {payloads} provider event payload(s); dropped {images} expired scan image(s) and "
        f"{generations} expired cached generation(s); deleted {events} analytics event(s) past retention; "
        f"ended {overdue} live session(s) past their time and deleted {gone} ended past retention; "
        f"deleted {emails} sent email(s) past retention and {links} reset or verification link(s) expired for a day; "
        f"deleted {results} reconciliation run figure(s) past retention"
    )


async def retry_events(job: JobContext) -> str:
    """Process again the provider events that failed or were left claimed by a crashed worker, and send again the
    creator payouts whose outcome is unknown (same idempotency key: Stripe makes the transfer once)."""
    events = await retry_unfinished_events(job.connect, job.settings, job.payments)
    return f"{events}; {await retry_pending_payouts(job.connect, job.payments.stripe.client)}"


async def reconcile_subscriptions(job: JobContext) -> str:
    """Compare every live subscription with its provider, fix drift, and recover unfinished events."""
    return await reconcile(job.connect, job.settings, job.payments)


async def fold_leaderboards(job: JobContext) -> str:
    """Fold the rank counts the boards' triggers appended, so that a rank sums one row per XP value."""
    async with job.connect() as conn, conn.transaction():
        return await fold_rank_counts(conn)


async def send_email(job: JobContext) -> str:
    """Send the due messages of the email outbox (SMTP, or .eml files under DATA_DIR/mail without MAIL_SMTP_HOST),
    retrying failures with backoff; see app/core/mail/delivery.py for the delivery guarantees."""
    mail = job.settings.mail
    return await send_due_emails(job.connect, mail, transport_for(mail, job.settings.data_dir))


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
    # A reset or verification link should arrive within seconds.
    "send-email": Scheduled(send_email, lambda jobs: jobs.send_email_seconds),
}


async def run_locked(name: str, pool: asyncpg.Pool, settings: Settings, payments: PaymentProviders) -> str:
    """Run job `name` unless another runner (any worker, any machine) holds its lock. The lock lives on a
    connection of its own, outside `pool`: if this process dies, PostgreSQL ends it and frees the lock."""

    def connect() -> asyncpg.pool.PoolAcquireContext:
        return pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)

    if not settings.database.url:
        raise RuntimeError("jobs need DATABASE_URL for their lock's connection")
    lock = await open_connection(settings.database.url)
    try:
        if not await q.try_job_lock(lock, job_name=name):
            return f"{name}: another runner holds the lock; nothing done"
        try:
            return f"{name}: {await JOBS[name].run(JobContext(connect, settings, payments))}"
        finally:
            await q.release_job_lock(lock, job_name=name)
    finally:
        await lock.close()


async def run_job(name: str, dsn: str, settings: Settings) -> str:
    settings = msgspec.structs.replace(settings, database=msgspec.structs.replace(settings.database, url=dsn))
    pool = await create_pool(dsn, DatabaseSettings(pool_min_size=1, pool_max_size=3))
    payments = PaymentProviders.create(settings, billing_hooks(settings.creators))
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
