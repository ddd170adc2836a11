"""Inbound provider events: stored first, processed at most once in effect, failures retried, crashed claims
taken over. The effect used here is deliberately not idempotent (it increments a counter), so a second application
would show."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.billing.inbox.processing import EventInProgress, applying, process_once
from app.billing.usage import consume
from app.db.pool import create_pool
from app.db.queries import events as q
from app.settings import DatabaseSettings
from tests.support import sign_up


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, DatabaseSettings(pool_min_size=1, pool_max_size=25))
    yield created
    await created.close()


async def _user(client) -> uuid.UUID:
    return uuid.UUID((await sign_up(client))["user"]["id"])


def _counting_effect(user_id: uuid.UUID, delay: float = 0.0):
    async def effect(conn) -> None:
        await asyncio.sleep(delay)
        await consume(conn, user_id, "effects", limit=1000, period="day", limit_code="X")

    return applying(effect)


async def _effects(db: asyncpg.Connection, user_id: uuid.UUID) -> int:
    return await db.fetchval("select coalesce(sum(used), 0) from usage_counters where user_id = $1", user_id) or 0


async def _deliver(pool: asyncpg.Pool, event_id: str, effect, **options) -> str:
    return await process_once(
        pool.acquire,
        provider="stripe",
        event_id=event_id,
        event_type="invoice.paid",
        payload={"id": event_id},
        effect=effect,
        **options,
    )


async def test_an_event_takes_effect_once_and_is_stored(client, pool, db: asyncpg.Connection) -> None:
    user_id = await _user(client)
    assert await _deliver(pool, "evt_1", _counting_effect(user_id)) == "processed"
    assert await _deliver(pool, "evt_1", _counting_effect(user_id)) == "duplicate"
    assert await _effects(db, user_id) == 1
    row = await db.fetchrow(
        "select status, attempts, payload, processed_at from provider_events where event_id = 'evt_1'"
    )
    assert (row["status"], row["attempts"]) == ("processed", 1)
    assert row["processed_at"] is not None


async def test_twenty_simultaneous_deliveries_give_one_effect(client, pool, db: asyncpg.Connection) -> None:
    user_id = await _user(client)
    effect = _counting_effect(user_id, delay=0.05)
    results = await asyncio.gather(*(_deliver(pool, "evt_race", effect) for _ in range(20)), return_exceptions=True)
    assert results.count("processed") == 1
    assert all(r in ("processed", "duplicate") or isinstance(r, EventInProgress) for r in results), results
    assert await _effects(db, user_id) == 1


async def test_a_failed_effect_is_recorded_rolled_back_and_retried(client, pool, db: asyncpg.Connection) -> None:
    user_id = await _user(client)

    async def failing(conn) -> None:
        await consume(conn, user_id, "effects", limit=1000, period="day", limit_code="X")
        raise RuntimeError("provider said no")

    with pytest.raises(RuntimeError):
        await _deliver(pool, "evt_fail", applying(failing))
    row = await db.fetchrow("select status, error from provider_events where event_id = 'evt_fail'")
    assert (row["status"], row["error"]) == ("failed", "RuntimeError: provider said no")
    assert await _effects(db, user_id) == 0  # the half-done effect was rolled back
    assert await _deliver(pool, "evt_fail", _counting_effect(user_id)) == "processed"
    assert await db.fetchval("select attempts from provider_events where event_id = 'evt_fail'") == 2
    assert await _effects(db, user_id) == 1


async def test_a_crashed_workers_claim_is_taken_over_after_its_lease(client, pool, db: asyncpg.Connection) -> None:
    user_id = await _user(client)
    # What a worker that died right after claiming leaves behind: a claim with a lease and no effect.
    await q.claim_event(
        db, provider="stripe", event_id="evt_crash", event_type="invoice.paid", payload={}, lease_seconds=0.3
    )
    with pytest.raises(EventInProgress):
        await _deliver(pool, "evt_crash", _counting_effect(user_id))
    await asyncio.sleep(0.4)
    assert await _deliver(pool, "evt_crash", _counting_effect(user_id)) == "processed"
    assert await _effects(db, user_id) == 1


async def test_a_slow_worker_keeps_its_event_past_its_lease(client, pool, db: asyncpg.Connection) -> None:
    """A takeover waits for the row the slow worker holds, then finds the event processed: one effect."""
    user_id = await _user(client)
    slow = asyncio.ensure_future(_deliver(pool, "evt_slow", _counting_effect(user_id, delay=0.5), lease_seconds=0.1))
    await asyncio.sleep(0.25)  # the lease has run out; the slow worker is still inside its effect
    assert await _deliver(pool, "evt_slow", _counting_effect(user_id)) == "duplicate"
    assert await slow == "processed"
    assert await _effects(db, user_id) == 1


async def test_a_worker_whose_provider_outlasts_its_lease_gives_the_event_up(client, pool, db) -> None:
    """The effect waits on its provider past the claim's lease; another delivery takes the event over and applies
    it; the slow worker then finds its claim gone and writes nothing (503 EVENT_IN_PROGRESS): one effect."""
    user_id = await _user(client)
    provider_answered = asyncio.Event()

    async def slow_provider(connect):
        await provider_answered.wait()
        return await _counting_effect(user_id)(connect)

    slow = asyncio.ensure_future(_deliver(pool, "evt_lost", slow_provider, lease_seconds=0.1))
    await asyncio.sleep(0.3)  # claimed, and its lease has run out while the provider is silent
    assert await _deliver(pool, "evt_lost", _counting_effect(user_id)) == "processed"
    provider_answered.set()
    with pytest.raises(EventInProgress):
        await slow
    assert await _effects(db, user_id) == 1
    assert await db.fetchval("select status from provider_events where event_id = 'evt_lost'") == "processed"


async def test_a_failure_that_cannot_be_recorded_still_fails_the_delivery(client, pool, db) -> None:
    """An effect that asks its provider first: the database goes away between the effect's failure and its record:
    the caller still gets the effect's error (so the provider retries), and the claim's lease lets the next delivery
    process the event."""
    user_id = await _user(client)
    borrowed = 0

    @contextlib.asynccontextmanager
    async def failing_third_time() -> AsyncIterator[asyncpg.Connection]:
        nonlocal borrowed
        borrowed += 1
        if borrowed == 3:  # 1: store and claim, 2: the effect's transaction, 3: recording the failure
            raise OSError("connection refused")
        async with pool.acquire() as conn:
            yield conn

    async def failing(conn) -> None:
        raise RuntimeError("provider said no")

    async def provider_then_failing(_connect):
        return failing

    with pytest.raises(RuntimeError, match="provider said no"):
        await process_once(
            failing_third_time,
            provider="stripe",
            event_id="evt_unrecorded",
            event_type="invoice.paid",
            payload={"id": "evt_unrecorded"},
            effect=provider_then_failing,
            lease_seconds=0.2,
        )
    assert borrowed == 3
    assert await db.fetchval("select status from provider_events where event_id = 'evt_unrecorded'") == "processing"
    await asyncio.sleep(0.3)
    assert await _deliver(pool, "evt_unrecorded", _counting_effect(user_id)) == "processed"
    assert await _effects(db, user_id) == 1


async def test_an_event_whose_connection_dies_mid_transaction_is_not_stored_and_applies_on_redelivery(
    client, pool, db
) -> None:
    """An effect that needs no provider runs in the event's one transaction: when its connection dies inside it
    (as when the worker is killed), the stored event and the half-done effect are rolled back together, the
    failure cannot be recorded, the caller gets the error (5xx), and the redelivery applies the event once."""
    user_id = await _user(client)

    async def dying(conn) -> None:
        await consume(conn, user_id, "effects", limit=1000, period="day", limit_code="X")
        await conn.execute("select pg_terminate_backend(pg_backend_pid())")

    with pytest.raises(asyncpg.InterfaceError, match="connection is closed"):
        await _deliver(pool, "evt_dies", applying(dying))
    assert await db.fetchval("select count(*) from provider_events where event_id = 'evt_dies'") == 0
    assert await _effects(db, user_id) == 0
    assert await _deliver(pool, "evt_dies", _counting_effect(user_id)) == "processed"
    assert await _deliver(pool, "evt_dies", _counting_effect(user_id)) == "duplicate"
    assert await _effects(db, user_id) == 1
