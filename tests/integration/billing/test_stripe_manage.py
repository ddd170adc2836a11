"""Portal, cancel and resume go through Stripe's API (the loopback fake, official client); the local state follows
the object Stripe returns."""

from __future__ import annotations

import datetime
import time
import uuid

import asyncpg

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from tests.fakes.stripe_api import FakeStripe
from tests.integration.billing.stripe_support import deliver, event, subscribed
from tests.support import bearer, sign_up

STRIPE_PRICES = {"cookcam_regular_monthly": "price_reg_m", "cookcam_creator_yearly": "price_cre_y"}
CREATOR_YEARLY = {"tier": "creator", "billing_period": "yearly"}
REGULAR_MONTHLY = {"tier": "regular", "billing_period": "monthly"}


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


async def _tier(client, auth: dict) -> str:
    tier: str = (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()["tier_slug"]
    return tier


def _last_update(stripe: FakeStripe) -> dict:
    return [p for m, path, _, p in stripe.requests if m == "POST" and path.startswith("/v1/subscriptions/")][-1]


async def test_an_upgrade_is_invoiced_at_once_and_granted_because_it_was_paid(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    response = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert response.status_code == 200, response.text
    assert response.json()["tier_slug"] == "creator"
    update = _last_update(stripe)
    assert update["items"] == {"0": {"id": "si_1", "price": "price_cre_y"}}
    assert (update["proration_behavior"], update["payment_behavior"]) == ("always_invoice", "pending_if_incomplete")
    assert "cancel_at_period_end" not in update  # Stripe refuses it beside pending_if_incomplete
    assert [i["status"] for i in stripe.invoices.values()] == ["paid"]  # the proration, charged at once
    history = await db.fetch(
        "select from_tier, to_tier, cause_kind from subscription_status_history where user_id = $1::uuid order by id",
        auth["user"]["id"],
    )
    assert tuple(history[-1]) == ("regular", "creator", "api")
    again = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert (again.status_code, again.json()["code"]) == (409, "SAME_PLAN")


async def test_a_declined_upgrade_grants_nothing_and_lapses(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    stripe.payment_outcomes["cus_test"] = "declines"
    response = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert response.status_code == 402, response.text
    body = response.json()
    assert body["code"] == "PLAN_CHANGE_PAYMENT_REQUIRED"
    (invoice,) = stripe.invoices.values()
    assert [d["field"] for d in body["details"]] == ["payment_url", "expires_at"]
    assert body["details"][0]["message"] == invoice["hosted_invoice_url"]
    assert await _tier(client, auth) == "regular"
    subscription = stripe.subscriptions[auth["subscription_id"]]
    assert subscription["items"]["data"][0]["price"]["id"] == "price_reg_m"  # Stripe kept the paid plan
    # Stripe's customer.subscription.updated carries the pending update beside the unchanged items: still nothing.
    pending = stripe.subscriptions[auth["subscription_id"]]
    await deliver(client, event("customer.subscription.updated", pending, created=int(time.time()) + 60))
    assert await _tier(client, auth) == "regular"
    # A second change while the first waits is told about the waiting one.
    waiting = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert (waiting.status_code, waiting.json()["code"]) == (402, "PLAN_CHANGE_PAYMENT_REQUIRED")
    expired = stripe.expire_pending_update(auth["subscription_id"])
    lapsed = event("customer.subscription.pending_update_expired", expired, created=int(time.time()) + 120)
    response = await deliver(client, lapsed)
    assert response.status_code == 200, response.text
    assert await _tier(client, auth) == "regular"
    assert invoice["status"] == "void"


async def test_a_3d_secure_upgrade_is_granted_once_the_customer_confirms_it(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    stripe.payment_outcomes["cus_test"] = "requires_action"
    response = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert (response.status_code, response.json()["code"]) == (402, "PLAN_CHANGE_PAYMENT_REQUIRED")
    assert await _tier(client, auth) == "regular"
    (invoice_id,) = stripe.invoices
    applied = stripe.pay_invoice(invoice_id)  # the customer passes their bank's check on the invoice page, later
    later = int(time.time()) + 60
    response = await deliver(client, event("customer.subscription.pending_update_applied", applied, created=later))
    assert response.status_code == 200, response.text
    assert await _tier(client, auth) == "creator"


async def test_a_downgrade_waits_for_the_end_of_the_paid_period(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    subscription = stripe.subscriptions[auth["subscription_id"]]
    item = subscription["items"]["data"][0]
    response = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=REGULAR_MONTHLY)
    assert response.status_code == 200, response.text
    assert response.json()["tier_slug"] == "creator"  # paid until the period ends
    (schedule,) = stripe.schedules.values()
    assert schedule["end_behavior"] == "release"
    current, following = schedule["phases"]
    assert (current["items"]["0"]["price"], int(current["end_date"])) == ("price_cre_y", item["current_period_end"])
    assert following["items"]["0"]["price"] == "price_reg_m"
    assert following["duration"] == {"interval": "month", "interval_count": "1"}
    assert item["price"]["id"] == "price_cre_y"
    renewed = stripe.enter_next_phase(auth["subscription_id"])  # the period ends
    await deliver(client, event("customer.subscription.updated", renewed, created=item["current_period_start"]))
    assert await _tier(client, auth) == "regular"


async def test_a_scheduled_downgrade_can_be_dropped_or_cancelled(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=REGULAR_MONTHLY)
    kept = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert kept.status_code == 200, kept.text
    assert [s["status"] for s in stripe.schedules.values()] == ["released"]
    await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=REGULAR_MONTHLY)
    # Stripe refuses a cancellation set directly on a subscription its schedule manages: the schedule goes first.
    cancelled = await client.post("/api/v1/subscription/cancel", headers=bearer(auth))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_at_period_end"] is True
    assert [s["status"] for s in stripe.schedules.values()] == ["released", "released"]
    ending = await client.post("/api/v1/subscription/change-tier", headers=bearer(auth), json=CREATOR_YEARLY)
    assert (ending.status_code, ending.json()["code"]) == (409, "SUBSCRIPTION_ENDING")


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
