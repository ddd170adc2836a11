"""Stripe billing grace: a failed renewal (Stripe's `past_due`, while Stripe retries the charge) is `billing_retry`
and keeps its tier until STRIPE_GRACE_DAYS after the renewal, then grants nothing, with no job: the reads compare
the stored grace end with now()."""

from __future__ import annotations

import datetime
import time
import uuid
from typing import Any

import asyncpg
import msgspec
import pytest

from app.billing.stripe.models import Subscription, state_of
from app.settings import SettingsError, StripeSettings, load_settings
from tests.integration.billing.stripe_support import deliver, event
from tests.support import bearer, sign_up

DAY = 86400


def subscription(user_id: str, *, status: str, period_start: int, trial_end: int | None = None) -> dict[str, Any]:
    """A creator subscription as Stripe sends it, its billing period starting at `period_start`."""
    return {
        "id": f"sub_{uuid.uuid4().hex[:10]}",
        "object": "subscription",
        "status": status,
        "cancel_at_period_end": False,
        "trial_end": trial_end,
        "metadata": {"user_id": user_id},
        "livemode": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_cre_m", "lookup_key": "cookcam_creator_monthly"},
                    "current_period_start": period_start,
                    "current_period_end": period_start + 30 * DAY,
                }
            ],
        },
    }


async def _entitlement(client, db: asyncpg.Connection, auth: dict) -> tuple[str, str, bool]:
    status = (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()
    is_creator = (await client.get("/api/v1/auth/me", headers=bearer(auth))).json()["is_creator"]
    stored = await db.fetchval("select status from subscriptions where user_id = $1::uuid", auth["user"]["id"])
    return status["tier_slug"], stored, is_creator


async def _update(client, obj: dict[str, Any], created: int) -> None:
    response = await deliver(client, event("customer.subscription.updated", obj, created=created))
    assert response.status_code == 200, response.text


async def test_a_failed_renewal_keeps_access_during_the_grace_then_loses_it(stripe_setup, db) -> None:
    client, _ = stripe_setup
    auth = await sign_up(client)
    now = int(time.time())
    renewed = now - 2 * DAY  # the renewal charge failed two days ago; Stripe is retrying it
    sub = subscription(auth["user"]["id"], status="active", period_start=renewed - 30 * DAY)
    await _update(client, sub, now - 40 * DAY)
    sub["items"]["data"][0].update(current_period_start=renewed, current_period_end=renewed + 30 * DAY)
    await _update(client, {**sub, "status": "past_due"}, now - 2 * DAY)
    assert await _entitlement(client, db, auth) == ("creator", "billing_retry", True)
    grace_until = await db.fetchval("select extract(epoch from grace_until)::bigint from subscriptions")
    assert grace_until == renewed + 14 * DAY  # STRIPE_GRACE_DAYS (14) after the renewal, from Stripe's own field

    # Fifteen days after the renewal the grace is over: the same stored row grants nothing, without any job.
    await db.execute("update subscriptions set grace_until = grace_until - interval '13 days'")
    assert await _entitlement(client, db, auth) == ("free", "billing_retry", False)


async def test_a_recovered_charge_ends_the_grace(stripe_setup, db) -> None:
    client, _ = stripe_setup
    auth = await sign_up(client)
    now = int(time.time())
    sub = subscription(auth["user"]["id"], status="past_due", period_start=now - DAY, trial_end=now - 31 * DAY)
    await _update(client, sub, now - 10)
    assert await _entitlement(client, db, auth) == ("creator", "billing_retry", True)
    await _update(client, {**sub, "status": "active"}, now)
    assert await _entitlement(client, db, auth) == ("creator", "active", True)
    assert await db.fetchval("select grace_until from subscriptions") is None


async def test_the_first_charge_after_a_free_trial_gets_no_grace(stripe_setup, db) -> None:
    """Stripe starts the first paid period at the trial's end; if that charge fails, nothing was ever paid."""
    client, _ = stripe_setup
    auth = await sign_up(client)
    trial_end = int(time.time()) - 3600
    sub = subscription(auth["user"]["id"], status="past_due", period_start=trial_end, trial_end=trial_end)
    await _update(client, sub, trial_end + 60)
    assert await _entitlement(client, db, auth) == ("free", "billing_retry", False)
    assert await db.fetchval("select grace_until from subscriptions") is None


@pytest.mark.parametrize("status", ["unpaid", "incomplete"])
def test_only_past_due_is_in_grace(status: str) -> None:
    """`unpaid`: Stripe's retries are over; `incomplete`: the first payment never succeeded."""
    now = int(time.time())
    sub = msgspec.convert(subscription(str(uuid.uuid4()), status=status, period_start=now), Subscription)
    state = state_of(sub, datetime.datetime.now(datetime.UTC), StripeSettings())
    assert state is not None
    assert (state.status, state.grace_until) == ("billing_retry", None)


def test_the_grace_is_configurable() -> None:
    now = int(time.time())
    sub = msgspec.convert(subscription(str(uuid.uuid4()), status="past_due", period_start=now), Subscription)
    state = state_of(sub, datetime.datetime.now(datetime.UTC), StripeSettings(grace_days=3))
    assert state is not None and state.grace_until is not None
    assert state.grace_until.timestamp() == now + 3 * DAY
    assert load_settings({"APP_ENV": "test", "STRIPE_GRACE_DAYS": "0"}, env_file=None).stripe.grace_days == 0
    with pytest.raises(SettingsError, match="STRIPE_GRACE_DAYS must be 0 or more"):
        load_settings({"APP_ENV": "test", "STRIPE_GRACE_DAYS": "-1"}, env_file=None)
