"""The ordering rule for Stripe (docs/payments.md): Stripe's `created` has whole-second resolution, so events of one
second arrive in any order; an ended subscription (`canceled`, `incomplete_expired`, or revoked by us after a full
refund) stays ended whichever comes first, and its ending is not lost behind a refetch stamped with our clock."""

from __future__ import annotations

import copy
import time
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.fakes.stripe_api import FakeStripe
from tests.integration.billing.stripe_support import deliver, event, subscribed
from tests.support import bearer

STRIPE_PRICES = {"cookcam_regular_monthly": "price_reg_m"}

# (event kind, Stripe status) of events that do not end the subscription, and of those that do.
RUNNING = [
    ("created", "trialing"),
    ("updated", "active"),
    ("updated", "past_due"),
    ("resumed", "active"),
    ("paused", "paused"),
]
ENDING = [("deleted", "canceled"), ("updated", "incomplete_expired")]


def _subscription_event(subscription: dict[str, Any], kind: str, status: str, created: int) -> bytes:
    snapshot = {**copy.deepcopy(subscription), "status": status}
    return event(f"customer.subscription.{kind}", snapshot, created=created)


async def _state(client: AsyncTestClient[Any], auth: dict[str, Any], db: asyncpg.Connection) -> tuple[str, str]:
    tier = (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()["tier_slug"]
    return await db.fetchval("select status from subscriptions"), tier


@pytest.mark.parametrize("ending", ENDING, ids=lambda e: e[1])
@pytest.mark.parametrize("running", RUNNING, ids=lambda r: f"{r[0]}-{r[1]}")
@pytest.mark.parametrize("ending_first", [False, True], ids=["ending-last", "ending-first"])
async def test_an_ending_wins_against_any_event_of_the_same_second(
    stripe_setup: tuple[AsyncTestClient[Any], FakeStripe],
    db: asyncpg.Connection,
    running: tuple[str, str],
    ending: tuple[str, str],
    ending_first: bool,
) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    subscription = stripe.subscriptions[auth["subscription_id"]]
    second = int(time.time()) + 1  # later than the subscription's recorded state, one second for both events
    pair = [_subscription_event(subscription, *running, second), _subscription_event(subscription, *ending, second)]
    for payload in reversed(pair) if ending_first else pair:
        response = await deliver(client, payload)
        assert response.status_code == 200, response.text
    assert await _state(client, auth, db) == ("expired", "free")


async def test_a_deletion_in_the_same_second_as_a_refetch_is_not_dropped(
    stripe_setup: tuple[AsyncTestClient[Any], FakeStripe], db: asyncpg.Connection
) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db)
    second = int(time.time())
    # invoice.paid makes us fetch the subscription: that state is stamped with our clock (12:00:00.7, say) ...
    invoice = {"id": "in_1", "subscription": auth["subscription_id"]}
    assert (await deliver(client, event("invoice.paid", invoice, created=second))).status_code == 200
    # ... and Stripe's deletion of that second says 12:00:00: earlier by our clock, yet it ends the subscription.
    subscription = stripe.subscriptions[auth["subscription_id"]]
    subscription["status"] = "canceled"
    deleted = _subscription_event(subscription, "deleted", "canceled", second)
    assert (await deliver(client, deleted)).status_code == 200
    assert await _state(client, auth, db) == ("expired", "free")


@pytest.mark.parametrize("refund_first", [False, True], ids=["refund-last", "refund-first"])
async def test_a_revocation_wins_against_an_active_event_of_the_same_second(
    stripe_setup: tuple[AsyncTestClient[Any], FakeStripe], db: asyncpg.Connection, refund_first: bool
) -> None:
    client, stripe = stripe_setup
    auth = await subscribed(client, stripe, db, customer_id="cus_ordering")
    second = int(time.time()) + 1
    active = _subscription_event(stripe.subscriptions[auth["subscription_id"]], "updated", "active", second)
    charge = {"id": "ch_1", "customer": "cus_ordering", "amount": 399, "amount_refunded": 399, "refunded": True}
    refund = event("charge.refunded", charge, created=second)
    for payload in (refund, active) if refund_first else (active, refund):
        assert (await deliver(client, payload)).status_code == 200
    assert await _state(client, auth, db) == ("revoked", "free")
    # Stripe's own deletion that follows our cancellation keeps the reason: revoked, not expired.
    deleted = _subscription_event(stripe.subscriptions[auth["subscription_id"]], "deleted", "canceled", second + 1)
    assert (await deliver(client, deleted)).status_code == 200
    assert await _state(client, auth, db) == ("revoked", "free")
