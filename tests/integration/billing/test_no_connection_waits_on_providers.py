"""No pooled connection (and so no transaction or row lock) waits on a provider: with a pool of one connection and
the provider's fake stalled mid-request, the test can still borrow that connection. Before the event inbox, account
deletion and the jobs fetched from providers ahead of their transactions, each of these held it."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.account.schemas import DeleteAccountRequest
from app.account.service import delete_account, erase_account
from app.auth.reauthentication import OwnerCheck
from app.auth.sign_in_providers import SignInProviders
from app.auth.throttle import Throttle
from app.billing.inbox.processing import process_once
from app.billing.providers import PaymentProviders
from app.billing.stores.google.push import decode_push
from app.billing.stores.notifications import google_effect
from app.billing.stripe.effects import event_effect
from app.billing.stripe.models import Event
from app.core.identity import authenticate
from app.core.passwords import Passwords
from app.core.ratelimit import PostgresCounters, RateLimiter, pseudonym_key
from app.core.tokens import AccessTokenValidator
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.server import create_app
from app.settings import DatabaseSettings, GoogleSettings, Settings, StripeSettings
from app.web.account_parts import account_parts
from tests.conftest import make_settings
from tests.fakes.google import PUBSUB_PUSH_EMAIL, fake_google
from tests.fakes.loopback import Stall
from tests.fakes.stripe_api import fake_stripe
from tests.integration.billing.stripe_support import SECRET, event, subscribed
from tests.support import PASSWORD

TEST_SECRET_KEY = "sk_test_" + "k" * 40
REVOKED = 12


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, DatabaseSettings(pool_min_size=1, pool_max_size=1))
    yield pool
    await pool.close()


async def _while_stalled(stall: Stall, pool: asyncpg.Pool, work: Awaitable[object]) -> object:
    """Run `work` until the provider holds its request, borrow the pool's only connection meanwhile, then let the
    provider answer and return what `work` returned."""
    stall.start()
    task = asyncio.ensure_future(work)
    try:
        assert await asyncio.to_thread(stall.reached.wait, 5), "the provider was never called"
        async with pool.acquire(timeout=1) as conn:  # times out if `work` holds the only connection
            assert await conn.fetchval("select 1") == 1
        assert not task.done()
    finally:
        stall.release()
    return await task


def _stripe_settings(database_url: str, base_url: str) -> Settings:
    stripe = StripeSettings(secret_key=TEST_SECRET_KEY, api_base=base_url, webhook_secret=SECRET)
    return msgspec.structs.replace(make_settings(database_url), stripe=stripe)


async def test_a_stripe_event_asks_stripe_holding_no_connection(database_url, db, one_connection) -> None:
    with fake_stripe() as (base_url, stripe):
        settings = _stripe_settings(database_url, base_url)
        async with AsyncTestClient(app=create_app(settings)) as client:
            subscriber = await subscribed(client, stripe, db)
        payments = PaymentProviders.create(settings, billing_hooks())
        try:
            stripe.subscriptions[subscriber["subscription_id"]]["status"] = "past_due"
            payload = event("invoice.payment_failed", {"id": "in_1", "subscription": subscriber["subscription_id"]})
            invoice = msgspec.json.decode(payload, type=Event)
            outcome = await _while_stalled(
                stripe.stall,
                one_connection,
                process_once(
                    one_connection.acquire,
                    provider="stripe",
                    event_id=invoice.id,
                    event_type=invoice.type,
                    payload=msgspec.Raw(payload),
                    effect=event_effect(invoice, payments, settings.stripe),
                ),
            )
        finally:
            await payments.close()
    assert outcome == "processed"
    assert await db.fetchval("select status from subscriptions") == "billing_retry"


async def test_a_google_notification_asks_google_holding_no_connection(
    database_url, db, one_connection, tmp_path
) -> None:
    with fake_google() as google:
        google_settings = GoogleSettings(
            service_account_file=str(google.write_service_account(tmp_path / "service-account.json")),
            androidpublisher_base=google.base_url,
            rtdn_audience="https://api.cookcam.test/push",
            rtdn_service_account_email=PUBSUB_PUSH_EMAIL,
            oidc_certs_url=google.certs_url,
        )
        settings = msgspec.structs.replace(make_settings(database_url), google=google_settings)
        user_id = uuid.uuid4()
        await db.execute(
            "insert into users (id, email, name, password_hash) values ($1, $2, 'Cook', 'x')", user_id, f"{user_id}@t"
        )
        google.add_subscription("tok-stalled", obfuscated_account_id=str(user_id), acknowledged=True)
        push = decode_push(msgspec.json.encode(google.push_body(google.subscription_notification("tok-stalled", 4))))
        payments = PaymentProviders.create(settings, billing_hooks())
        try:
            outcome = await _while_stalled(
                google.stall,
                one_connection,
                process_once(
                    one_connection.acquire,
                    provider="google",
                    event_id=push.message_id,
                    event_type=push.notification.event_type,
                    payload={"message_id": push.message_id},
                    effect=google_effect(payments, settings.google, push),
                ),
            )
        finally:
            await payments.close()
    assert outcome == "processed"
    assert await db.fetchval("select user_id from subscriptions where provider = 'google'") == user_id


async def test_deleting_an_account_cancels_at_stripe_holding_no_connection(database_url, db, one_connection) -> None:
    with fake_stripe() as (base_url, stripe):
        settings = _stripe_settings(database_url, base_url)
        async with AsyncTestClient(app=create_app(settings)) as client:
            subscriber = await subscribed(client, stripe, db)
        async with one_connection.acquire() as conn:
            caller = await authenticate(conn, AccessTokenValidator(settings.jwt), subscriber["access_token"])
        payments = PaymentProviders.create(settings, billing_hooks())
        parts = account_parts(payments.stripe.client)
        connect = one_connection.acquire
        providers = SignInProviders.create(settings, functools.partial(erase_account, connect, parts))
        limiter = RateLimiter(PostgresCounters(), pseudonym_key(settings.jwt.secret))
        owner_check = OwnerCheck(
            connect, Passwords(1), providers, Throttle(connect, limiter, settings.ratelimit, "127.0.0.1")
        )
        try:
            deleted = await _while_stalled(
                stripe.stall,
                one_connection,
                delete_account(connect, parts, owner_check, caller, DeleteAccountRequest(confirm_password=PASSWORD)),
            )
        finally:
            await payments.close()
            await providers.close()
    assert deleted.store_subscriptions_to_cancel == []  # type: ignore[attr-defined]
    assert stripe.cancelled == [subscriber["subscription_id"]]
    assert await db.fetchval("select count(*) from users where id = $1", caller.id) == 0


async def _reconcile_stalled(stall: Stall, pool: asyncpg.Pool, settings: Settings) -> object:
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        return await _while_stalled(stall, pool, run_locked("reconcile", pool, settings, payments))
    finally:
        await payments.close()


async def test_reconciliation_asks_stripe_holding_no_connection(database_url, db, one_connection) -> None:
    """The job's lock lives on a connection of its own; its statements borrow the pool's only connection briefly."""
    with fake_stripe() as (base_url, stripe):
        settings = _stripe_settings(database_url, base_url)
        async with AsyncTestClient(app=create_app(settings)) as client:
            subscriber = await subscribed(client, stripe, db)
        stripe.subscriptions[subscriber["subscription_id"]]["status"] = "past_due"
        summary = await _reconcile_stalled(stripe.stall, one_connection, settings)
    assert "1 drifted and fixed" in str(summary)
    assert await db.fetchval("select status from subscriptions") == "billing_retry"


async def test_reconciliation_resolves_an_imported_binding_holding_no_connection(
    database_url, db, one_connection
) -> None:
    """An imported Stripe binding (migration 0035) is fetched with no connection borrowed, then recorded."""
    user_id = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'I') returning id", f"{uuid.uuid4()}@i.test"
    )
    await db.execute(
        "insert into imported_billing_bindings (provider, provider_subscription_id, user_id, stripe_customer_id) "
        "values ('stripe', 'sub_imported', $1, 'cus_imported')",
        user_id,
    )
    price = {"id": "price_reg_m", "lookup_key": "cookcam_regular_monthly"}
    with fake_stripe() as (base_url, stripe):
        stripe.subscriptions["sub_imported"] = {
            "id": "sub_imported",
            "object": "subscription",
            "status": "active",
            "customer": "cus_imported",
            "livemode": False,
            "items": {"object": "list", "data": [{"id": "si_1", "price": price}]},
        }
        summary = await _reconcile_stalled(stripe.stall, one_connection, _stripe_settings(database_url, base_url))
    assert "imported bindings: 1 recorded" in str(summary)
    assert await db.fetchval("select status from subscriptions where user_id = $1", user_id) == "active"
