"""The retry-events job finishes provider events that failed or were left claimed by a crashed worker."""

from __future__ import annotations

import time

import asyncpg
import msgspec

from app.billing.hooks import BillingHooks
from app.billing.inbox.recovery import MAX_ATTEMPTS
from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.db.queries import events as q
from app.ops.jobs import run_locked
from tests.conftest import make_settings
from tests.integration.billing.test_stripe_webhook import subscription_event
from tests.support import sign_up


async def test_failed_and_abandoned_events_are_processed_by_the_job(client, db: asyncpg.Connection, database_url):
    user_id = (await sign_up(client))["user"]["id"]
    now = int(time.time())
    abandoned = msgspec.json.decode(subscription_event(user_id, status="active", created=now, event_id="evt_abandoned"))
    # What a worker that died mid-event leaves: a claim whose lease has run out, and no effect.
    await q.claim_event(
        db,
        provider="stripe",
        event_id="evt_abandoned",
        event_type=abandoned["type"],
        payload=abandoned,
        lease_seconds=0,
    )
    failed = msgspec.json.decode(subscription_event(user_id, status="active", created=now, event_id="evt_failed"))
    await q.claim_event(
        db, provider="stripe", event_id="evt_failed", event_type=failed["type"], payload=failed, lease_seconds=60
    )
    await db.execute("update provider_events set status = 'failed' where event_id = 'evt_failed'")
    exhausted = msgspec.json.decode(subscription_event(user_id, status="trialing", created=now, event_id="evt_dead"))
    await q.claim_event(
        db, provider="stripe", event_id="evt_dead", event_type=exhausted["type"], payload=exhausted, lease_seconds=0
    )
    await db.execute("update provider_events set attempts = $1 where event_id = 'evt_dead'", MAX_ATTEMPTS)

    settings = make_settings(database_url)
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        outcome = await run_locked("retry-events", pool, settings, payments)
    finally:
        await payments.close()
        await pool.close()
    assert "2 retried, 2 recovered, 0 failed again" in outcome
    statuses = dict(await db.fetch("select event_id, status from provider_events order by event_id"))
    assert statuses == {"evt_abandoned": "processed", "evt_dead": "processing", "evt_failed": "processed"}
    assert await db.fetchval("select status from subscriptions where user_id = $1::uuid", user_id) == "active"


async def test_a_connect_event_waits_for_a_runner_with_the_creators_hooks(db: asyncpg.Connection, database_url):
    """The retry job re-runs a Connect event through the handler creators register; a runner built without it
    fails the event (recorded, retried later) rather than mark it processed with no effect."""
    account_event = {
        "id": "evt_connect_1",
        "type": "account.updated",
        "created": int(time.time()),
        "account": "acct_unknown",
        "data": {"object": {"id": "acct_unknown", "object": "account", "payouts_enabled": True}},
    }
    await q.claim_event(
        db,
        provider="stripe_connect",
        event_id="evt_connect_1",
        event_type="account.updated",
        payload=account_event,
        lease_seconds=0,
    )
    settings = make_settings(database_url)
    pool = await create_pool(database_url, settings.database)
    try:
        without_hooks = PaymentProviders.create(settings, BillingHooks())
        try:
            outcome = await run_locked("retry-events", pool, settings, without_hooks)
        finally:
            await without_hooks.close()
        assert "1 retried, 0 recovered, 1 failed again" in outcome
        row = await db.fetchrow("select status, error from provider_events where event_id = 'evt_connect_1'")
        assert row["status"] == "failed"
        assert "no handler is registered for Stripe Connect events" in row["error"]

        payments = PaymentProviders.create(settings, billing_hooks())
        try:
            outcome = await run_locked("retry-events", pool, settings, payments)
        finally:
            await payments.close()
    finally:
        await pool.close()
    assert "1 retried, 1 recovered, 0 failed again" in outcome
    assert await db.fetchval("select status from provider_events where event_id = 'evt_connect_1'") == "processed"


async def test_one_run_goes_through_every_batch_once_and_says_what_it_recovered_and_gave_up(
    db: asyncpg.Connection, database_url
) -> None:
    """Older events that fail on every attempt no longer hold back a crashed worker's claim: a run reads every
    unfinished event (in batches of BILLING_EVENT_RETRY_BATCH_SIZE), abandoned claims first, each once."""
    for event_id, attempts in (("evt_always_1", 1), ("evt_always_2", 5), ("evt_always_3", MAX_ATTEMPTS - 1)):
        failing = {"id": event_id, "type": "account.updated", "created": 1, "account": "acct_x", "data": {"object": {}}}
        await q.claim_event(
            db, provider="stripe_connect", event_id=event_id, event_type="account.updated", payload=failing,
            lease_seconds=60,
        )  # fmt: skip
        await db.execute(
            "update provider_events set status = 'failed', attempts = $2, received_at = now() - interval '1 hour' "
            "where event_id = $1",
            event_id,
            attempts,
        )
    customer = {"id": "evt_crashed", "type": "customer.created", "created": 1, "data": {"object": {"id": "cus_1"}}}
    await q.claim_event(
        db, provider="stripe", event_id="evt_crashed", event_type="customer.created", payload=customer, lease_seconds=0
    )
    names = dict(await db.fetch("select id, event_id from provider_events"))
    order = [names[i] for i in await q.list_retryable_event_ids(db, max_attempts=MAX_ATTEMPTS)]
    assert order == ["evt_crashed", "evt_always_1", "evt_always_2", "evt_always_3"]  # likeliest to recover first
    settings = make_settings(database_url)
    settings = msgspec.structs.replace(
        settings, billing=msgspec.structs.replace(settings.billing, event_retry_batch_size=2)
    )
    pool = await create_pool(database_url, settings.database)
    # Without the creators' hooks every Connect event fails (test_a_connect_event_waits_for_...).
    without_hooks = PaymentProviders.create(settings, BillingHooks())
    try:
        first = await run_locked("retry-events", pool, settings, without_hooks)
        second = await run_locked("retry-events", pool, settings, without_hooks)
    finally:
        await without_hooks.close()
        await pool.close()
    assert (
        "retried events: 4 retried, 1 recovered, 3 failed again, 1 given up after 10 attempts "
        "(stripe_connect evt_always_3), 0 skipped"
    ) in first
    assert "retried events: 2 retried, 0 recovered, 2 failed again, 0 given up" in second
    attempts = dict(await db.fetch("select event_id, attempts from provider_events"))
    assert attempts == {"evt_always_1": 3, "evt_always_2": 7, "evt_always_3": MAX_ATTEMPTS, "evt_crashed": 2}
    assert await db.fetchval("select status from provider_events where event_id = 'evt_crashed'") == "processed"


async def test_a_run_starts_no_event_after_its_time_box_and_the_next_run_takes_the_rest(
    db: asyncpg.Connection, database_url
) -> None:
    for event_id in ("evt_boxed_1", "evt_boxed_2"):
        failing = {"id": event_id, "type": "account.updated", "created": 1, "account": "acct_x", "data": {"object": {}}}
        await q.claim_event(
            db, provider="stripe_connect", event_id=event_id, event_type="account.updated", payload=failing,
            lease_seconds=0,
        )  # fmt: skip
    settings = make_settings(database_url)
    boxed = msgspec.structs.replace(
        settings, billing=msgspec.structs.replace(settings.billing, event_retry_max_run_seconds=1e-9)
    )
    pool = await create_pool(database_url, settings.database)
    without_hooks = PaymentProviders.create(settings, BillingHooks())  # every Connect event fails
    try:
        ended = await run_locked("retry-events", pool, boxed, without_hooks)
        attempts_after_boxed = dict(await db.fetch("select event_id, attempts from provider_events"))
        next_run = await run_locked("retry-events", pool, settings, without_hooks)
    finally:
        await without_hooks.close()
        await pool.close()
    assert "retried events: 0 retried" in ended and "2 left for the next run (time box)" in ended
    assert attempts_after_boxed == {"evt_boxed_1": 1, "evt_boxed_2": 1}  # neither was started
    assert "retried events: 2 retried, 0 recovered, 2 failed again" in next_run and "left for" not in next_run
    attempts = dict(await db.fetch("select event_id, attempts from provider_events"))
    assert attempts == {"evt_boxed_1": 2, "evt_boxed_2": 2}
