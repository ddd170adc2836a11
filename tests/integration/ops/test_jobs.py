"""Periodic jobs: the advisory lock admits one runner, and the in-process scheduler runs them."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.server import create_app
from app.settings import JobsSettings
from tests.conftest import make_settings
from tests.support import bearer, sign_up


async def _expired_rows(db: asyncpg.Connection) -> None:
    await db.execute("update refresh_tokens set expires_at = now() - interval '1 minute'")
    await db.execute(
        "insert into rate_limit_counters (bucket, window_start, hits) values ('old', now() - interval '2 days', 3)"
    )
    # One provider event processed past the payload retention (90 days), one recently.
    await db.execute(
        "insert into provider_events (provider, event_id, event_type, status, attempts, payload, processed_at)"
        " select 'stripe', e, 'x', 'processed', 1, jsonb_build_object('id', e), now() - d"
        " from (values ('evt_old', interval '91 days'), ('evt_recent', interval '1 day')) v(e, d)"
    )


async def test_a_second_runner_waits_its_turn(client, db: asyncpg.Connection, database_url: str) -> None:
    await sign_up(client)
    await _expired_rows(db)
    settings = make_settings(database_url)
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        async with db.transaction():
            await db.execute("select pg_advisory_xact_lock(hashtext('purge-expired'))")
            assert "another runner holds the lock" in await run_locked("purge-expired", pool, settings, payments)
        outcome = await run_locked("purge-expired", pool, settings, payments)
        assert "purged 1 expired refresh token(s) and 1 rate-limit window(s); redacted 1 provider" in outcome
        payloads = dict(await db.fetch("select event_id, payload::text from provider_events"))
        assert payloads == {"evt_old": "{}", "evt_recent": '{"id": "evt_recent"}'}
    finally:
        await payments.close()
        await pool.close()


async def test_in_process_scheduler_runs_the_jobs(database_url: str, db: asyncpg.Connection) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url), jobs=JobsSettings(scheduler_enabled=True, interval_seconds=0.2)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_up(client)
        await _expired_rows(db)
        for _ in range(50):
            if await db.fetchval("select count(*) from refresh_tokens") == 0:
                break
            await asyncio.sleep(0.1)
        assert await db.fetchval("select count(*) from refresh_tokens") == 0
        assert await db.fetchval("select count(*) from rate_limit_counters where bucket = 'old'") == 0


async def test_each_job_runs_on_its_own_interval(database_url: str, db: asyncpg.Connection) -> None:
    """fold-leaderboards on JOBS_FOLD_LEADERBOARDS_SECONDS; the others wait for JOBS_INTERVAL_SECONDS."""
    jobs = JobsSettings(scheduler_enabled=True, interval_seconds=3600, fold_leaderboards_seconds=0.2)
    settings = msgspec.structs.replace(make_settings(database_url), jobs=jobs)
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        await client.post("/api/v1/gamification/add-xp", headers=bearer(auth), json={"action": "daily_check_in"})
        await _expired_rows(db)
        for _ in range(50):  # the award's triggers append unfolded counts; only the fold makes folded rows
            if await db.fetchval("select count(*) from xp_rank_counts where not folded") == 0:
                break
            await asyncio.sleep(0.1)
        assert await db.fetchval("select count(*) from xp_rank_counts where not folded") == 0
        assert await db.fetchval("select count(*) from xp_rank_counts where folded") == 4  # one value per board
        assert await db.fetchval("select count(*) from refresh_tokens") > 0  # purge-expired has not run


async def test_a_runner_without_a_database_url_is_refused(database_url: str) -> None:
    """The lock lives on a connection of the runner's own, opened from DATABASE_URL; without it nothing runs."""
    settings = make_settings(database_url)
    without_url = msgspec.structs.replace(settings, database=msgspec.structs.replace(settings.database, url=None))
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        with pytest.raises(RuntimeError, match="DATABASE_URL"):
            await run_locked("purge-expired", pool, without_url, payments)
    finally:
        await payments.close()
        await pool.close()
