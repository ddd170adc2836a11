"""Portal, cancel and resume go through Stripe's API (the loopback fake, official client); the local state follows
the object Stripe returns."""

from __future__ import annotations

import datetime
import uuid

import asyncpg

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from tests.integration.billing.stripe_support import subscribed
from tests.support import bearer, sign_up

STRIPE_PRICES = {"cookcam_regular_monthly": "price_reg_m", "cookcam_creator_yearly": "price_cre_y"}


async def test_cancel_then_resume_at_period_end(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    cancelled = await client.post("/api/v1/subscription/cancel", headers=bearer(auth))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_at_period_end"] is True
    assert cancelled.json()["tier_slug"] == "regular"  # access continues until the period ends
    resumed = await client.post("/api/v1/subscription/resume", headers=bearer(auth))
    assert resumed.json()["cancel_at_period_end"] is False
    updates = [params for method, path, _, params in stripe.requests if method == "POST" and "/subscriptions/" in path]
    assert updates == [{"cancel_at_period_end": "true"}, {"cancel_at_period_end": "false"}]


async def test_portal_for_a_stripe_customer(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    response = await client.post("/api/v1/subscription/portal", headers=bearer(auth))
    assert response.status_code == 200, response.text
    assert response.json()["portal_url"].startswith("https://billing.stripe.com/")
    sent = [params for method, path, _, params in stripe.requests if path == "/v1/billing_portal/sessions"]
    assert sent == [{"customer": "cus_test", "return_url": "cookcam://subscription"}]
    evil = await client.post(
        "/api/v1/subscription/portal", headers=bearer(auth), json={"return_url": "https://evil.example/"}
    )
    assert evil.json()["code"] == "REDIRECT_NOT_ALLOWED"


async def test_nothing_to_manage(stripe_setup, db: asyncpg.Connection) -> None:
    client, _ = stripe_setup
    auth = await sign_up(client)
    assert (await client.post("/api/v1/subscription/cancel", headers=bearer(auth))).json()["code"] == "NO_SUBSCRIPTION"
    assert (await client.post("/api/v1/subscription/portal", headers=bearer(auth))).json()["code"] == (
        "NO_STRIPE_CUSTOMER"
    )


async def test_store_subscriptions_are_cancelled_in_the_store(stripe_setup, db: asyncpg.Connection) -> None:
    client, _ = stripe_setup
    auth = await sign_up(client)
    state = ProviderState(
        user_id=uuid.UUID(auth["user"]["id"]),
        provider="google",
        provider_subscription_id="gpa.1234",
        tier_slug="regular",
        status="active",
        provider_updated_at=datetime.datetime.now(datetime.UTC),
    )
    await record_subscription_state(db, state, Cause("test", "google"), billing_hooks())
    response = await client.post("/api/v1/subscription/cancel", headers=bearer(auth))
    assert response.status_code == 409
    assert response.json()["code"] == "STORE_SUBSCRIPTION"
    assert "Google Play" in response.json()["message"]


async def test_change_tier_goes_through_stripe_with_proration(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    body = {"tier": "creator", "billing_period": "yearly"}
    response = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["tier_slug"] == "creator"
    update = [p for m, path, _, p in stripe.requests if m == "POST" and path.startswith("/v1/subscriptions/")][-1]
    assert update["items"] == {"0": {"id": "si_1", "price": "price_cre_y"}}
    assert update["proration_behavior"] == "create_prorations"
    history = await db.fetch(
        "select from_tier, to_tier, cause_kind from subscription_status_history where user_id = $1::uuid order by id",
        auth["user"]["id"],
    )
    assert tuple(history[-1]) == ("regular", "creator", "api")
    again = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=body)
    assert (again.status_code, again.json()["code"]) == (409, "SAME_PLAN")


async def test_refresh_status_heals_a_missed_webhook(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    subscription = next(iter(stripe.subscriptions.values()))
    subscription["status"] = "canceled"  # Stripe ended it; the webhook never arrived
    response = await client.post("/api/v1/subscription/refresh-status", headers=bearer(auth))
    assert response.status_code == 200, response.text
    assert (response.json()["tier_slug"], response.json()["id"]) == ("free", None)
    cause = await db.fetchval(
        "select cause_ref from subscription_status_history where user_id = $1::uuid order by id desc limit 1",
        auth["user"]["id"],
    )
    assert cause.startswith("refresh-status:")
    nothing = await client.post("/api/v1/subscription/refresh-status", headers=bearer(await sign_up(client)))
    assert nothing.json()["tier_slug"] == "free"
