"""Stripe events beyond the subscription object: checkout completion, invoices, refunds, disputes and trial ends.
Each is signed as Stripe signs it; the subscriptions they name are fetched from the fake Stripe API."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import msgspec

from tests.integration.billing.stripe_support import deliver, event, subscribed
from tests.support import bearer

STRIPE_PRICES = {"cookcam_regular_monthly": "price_reg_m", "cookcam_creator_yearly": "price_cre_y"}


async def _status(client, auth: dict) -> dict:
    return (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()


async def test_checkout_completion_starts_access_from_the_fetched_subscription(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    await db.execute("delete from subscriptions")  # as if every subscription event were lost
    stripe.subscriptions[auth["subscription_id"]]["status"] = "trialing"
    session = {"id": "cs_1", "object": "checkout.session", "mode": "subscription"}
    response = await deliver(
        client, event("checkout.session.completed", {**session, "subscription": auth["subscription_id"]})
    )
    assert response.status_code == 200, response.text
    status = await _status(client, auth)
    assert (status["tier_slug"], status["subscription"]["status"]) == ("regular", "trialing")
    payment = await deliver(client, event("checkout.session.completed", {**session, "id": "cs_2", "mode": "payment"}))
    assert payment.json()["outcome"] == "processed"  # one-off payments are not subscriptions


async def test_a_paid_renewal_extends_the_period_and_a_failed_one_is_retried_in_grace(stripe_setup, db) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    subscription = stripe.subscriptions[auth["subscription_id"]]
    renewed_until = int(time.time()) + 60 * 86400
    subscription["items"]["data"][0]["current_period_end"] = renewed_until
    # Current API versions name the subscription under parent.subscription_details.
    invoice = {"id": "in_1", "parent": {"subscription_details": {"subscription": auth["subscription_id"]}}}
    assert (await deliver(client, event("invoice.paid", invoice))).status_code == 200
    period_end = await db.fetchval("select extract(epoch from current_period_end)::bigint from subscriptions")
    assert period_end == renewed_until

    subscription["status"] = "past_due"
    legacy_invoice = {"id": "in_2", "subscription": auth["subscription_id"]}
    assert (await deliver(client, event("invoice.payment_failed", legacy_invoice))).status_code == 200
    status = await _status(client, auth)
    # Stripe retries the charge; access continues in the billing grace (test_stripe_grace.py).
    assert (status["tier_slug"], await db.fetchval("select status from subscriptions")) == ("regular", "billing_retry")


async def test_a_full_refund_revokes_for_good_and_a_partial_one_does_not(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db, customer_id="cus_refund")
    partial = {"id": "ch_1", "customer": "cus_refund", "amount": 399, "amount_refunded": 100, "refunded": False}
    await deliver(client, event("charge.refunded", partial))
    assert (await _status(client, auth))["tier_slug"] == "regular"
    assert stripe.cancelled == []

    full = {**partial, "amount_refunded": 399, "refunded": True}
    assert (await deliver(client, event("charge.refunded", full))).status_code == 200
    assert stripe.cancelled == [auth["subscription_id"]]
    assert (await _status(client, auth))["tier_slug"] == "free"
    assert await db.fetchval("select status from subscriptions") == "revoked"
    # Stripe's own "deleted" event follows the cancellation; the subscription stays revoked.
    deleted = {**stripe.subscriptions[auth["subscription_id"]], "status": "canceled"}
    await deliver(client, event("customer.subscription.deleted", deleted, created=int(time.time()) + 5))
    assert await db.fetchval("select status from subscriptions") == "revoked"
    causes = await db.fetch("select to_status, cause_kind from subscription_status_history order by id")
    assert [tuple(r) for r in causes] == [("active", "stripe_event"), ("revoked", "stripe_event")]


async def test_a_dispute_revokes_and_is_reported_as_fraud(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db, customer_id="cus_dispute")
    stripe.charges["ch_disputed"] = {"id": "ch_disputed", "object": "charge", "customer": "cus_dispute"}
    dispute = {"id": "dp_1", "object": "dispute", "charge": "ch_disputed", "reason": "fraudulent"}
    assert (await deliver(client, event("charge.dispute.created", dispute))).status_code == 200
    assert (await _status(client, auth))["tier_slug"] == "free"
    signal = await db.fetchrow("select signal, user_id::text, provider, occurrences from billing_fraud_signals")
    assert tuple(signal) == ("payment_disputed", auth["user"]["id"], "stripe", 1)


async def test_stripe_being_down_fails_the_event_so_stripe_retries(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    stripe.fail_next = 10  # more than the client's own retries
    payload = event("invoice.paid", {"id": "in_3", "subscription": auth["subscription_id"]}, event_id="evt_down")
    failed = await deliver(client, payload)
    assert failed.status_code == 503
    row = await db.fetchrow("select status, error from provider_events where event_id = 'evt_down'")
    assert row["status"] == "failed"
    assert row["error"].startswith("ServiceUnavailable: PAYMENT_PROVIDER_UNAVAILABLE")
    stripe.fail_next = 0
    assert (await deliver(client, payload)).json()["outcome"] == "processed"


async def test_trial_will_end_is_announced_to_the_users_sockets(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    notices: asyncio.Queue[str] = asyncio.Queue()
    await db.add_listener("cookcam_events", lambda *args: notices.put_nowait(args[3]))
    trial_end = int(time.time()) + 3 * 86400
    subscription = {**stripe.subscriptions[auth["subscription_id"]], "trial_end": trial_end}
    assert (await deliver(client, event("customer.subscription.trial_will_end", subscription))).status_code == 200
    notice = msgspec.json.decode(await asyncio.wait_for(notices.get(), timeout=5))
    assert notice["event"]["type"] == "subscription.trial_ending"
    assert notice["user_id"] == auth["user"]["id"]
