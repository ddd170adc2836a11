"""Stripe test helpers: events signed exactly as Stripe signs them (HMAC-SHA256 over "timestamp.body") and a user
with a live Stripe subscription known both to the fake Stripe API and to our database."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
import uuid
from typing import Any

import asyncpg
import msgspec

from app.billing.entitlements import Cause, record_subscription_state
from app.billing.stripe.models import Subscription, state_of
from app.creators.billing_hooks import billing_hooks
from app.settings import StripeSettings
from tests.fakes.stripe_api import FakeStripe
from tests.support import sign_up

WEBHOOK = "/api/v1/subscription/webhook/stripe"
SECRET = "whsec_" + "current" * 6
PREVIOUS = "whsec_" + "previous" * 5


def signature(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    signed = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={signed}"


def event(event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None) -> bytes:
    return msgspec.json.encode(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "data": {"object": obj},
        }
    )


async def deliver(client, payload: bytes, header: str | None = None):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers["Stripe-Signature"] = header if header is not None else signature(payload)
    return await client.post(WEBHOOK, content=payload, headers=headers)


async def subscribed(client, stripe: FakeStripe, db: asyncpg.Connection, customer_id: str = "cus_test") -> dict:
    """A signed-up user with an active Stripe subscription (regular, monthly), recorded locally a minute ago."""
    auth = await sign_up(client)
    now = int(time.time())
    subscription = {
        "id": f"sub_{uuid.uuid4().hex[:10]}",
        "object": "subscription",
        "status": "active",
        "customer": customer_id,
        "cancel_at_period_end": False,
        "metadata": {"user_id": auth["user"]["id"]},
        "livemode": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_reg_m", "lookup_key": "cookcam_regular_monthly"},
                    "current_period_start": now,
                    "current_period_end": now + 30 * 86400,
                }
            ],
        },
    }
    stripe.subscriptions[subscription["id"]] = subscription
    observed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    state = state_of(msgspec.convert(subscription, Subscription), observed, StripeSettings())
    assert state is not None
    await record_subscription_state(db, state, Cause("stripe_event", "evt_setup"), billing_hooks())
    await db.execute(
        "insert into stripe_customers (user_id, customer_id) values ($1::uuid, $2)", auth["user"]["id"], customer_id
    )
    return {**auth, "subscription_id": subscription["id"]}
