"""Deleting an account cancels its live Stripe subscriptions first, and says how to cancel store ones."""

from __future__ import annotations

import datetime
import uuid

import asyncpg

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from tests.support import PASSWORD, bearer, sign_up

NOW = datetime.datetime.now(datetime.UTC)


async def _subscribe(db, user_id: str, provider: str, subscription_id: str, status: str = "active") -> None:
    state = ProviderState(
        user_id=uuid.UUID(user_id),
        provider=provider,  # type: ignore[arg-type]
        provider_subscription_id=subscription_id,
        tier_slug="regular",
        status=status,  # type: ignore[arg-type]
        current_period_end=NOW + datetime.timedelta(days=30),
        provider_updated_at=NOW,
    )
    await record_subscription_state(db, state, Cause("test", subscription_id), billing_hooks())


async def _delete(client, auth):
    return await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )


async def test_live_stripe_subscriptions_are_cancelled_and_store_ones_explained(
    stripe_setup, db: asyncpg.Connection
) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    user_id = auth["user"]["id"]
    await _subscribe(db, user_id, "stripe", "sub_live")
    await _subscribe(db, user_id, "stripe", "sub_over", status="expired")
    await _subscribe(db, user_id, "apple", "1000000001")
    response = await _delete(client, auth)
    assert response.status_code == 200, response.text
    assert stripe.cancelled == ["sub_live"]
    body = response.json()
    assert len(body["store_subscriptions_to_cancel"]) == 1
    assert "App Store" in body["store_subscriptions_to_cancel"][0]
    assert await db.fetchval("select count(*) from subscriptions where user_id = $1::uuid", user_id) == 0


async def test_when_stripe_cannot_cancel_the_account_is_kept(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    await _subscribe(db, auth["user"]["id"], "stripe", "sub_live")
    stripe.fail_next = 10
    response = await _delete(client, auth)
    assert response.status_code == 503
    assert response.json()["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert await db.fetchval("select count(*) from users where id = $1::uuid", auth["user"]["id"]) == 1
    stripe.fail_next = 0
    assert (await _delete(client, auth)).status_code == 200


async def test_a_subscription_stripe_no_longer_knows_does_not_block_deletion(
    stripe_setup, db: asyncpg.Connection
) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    await _subscribe(db, auth["user"]["id"], "stripe", "sub_gone")
    stripe.missing.add("sub_gone")
    assert (await _delete(client, auth)).status_code == 200
    assert stripe.cancelled == []


async def test_without_stripe_configured_a_stripe_subscriber_is_kept(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    await _subscribe(db, auth["user"]["id"], "stripe", "sub_live")
    response = await _delete(client, auth)
    assert (response.status_code, response.json()["code"]) == (503, "STRIPE_UNCONFIGURED")
    assert await db.fetchval("select count(*) from users where id = $1::uuid", auth["user"]["id"]) == 1
