"""The Stripe webhook: signatures verified by Stripe's library on the raw bytes (signed here exactly as Stripe
signs: HMAC-SHA256 over "timestamp.body"), events stored and processed once, lifecycle mapped onto entitlements."""

from __future__ import annotations

import time
import uuid

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from app.server import create_app
from app.settings import StripeSettings
from tests.conftest import make_settings
from tests.integration.billing.stripe_support import PREVIOUS, SECRET, deliver, event, signature
from tests.support import bearer, sign_up


def subscription_event(
    user_id: str, *, status: str, created: int, event_id: str | None = None, kind: str = "updated", **extra: object
) -> bytes:
    now = int(time.time())
    subscription = {
        "id": "sub_webhook_1",
        "object": "subscription",
        "status": status,
        "cancel_at_period_end": False,
        "trial_end": now + 3 * 86400,
        "metadata": {"user_id": user_id},
        "livemode": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "price": {"id": "price_1", "lookup_key": "cookcam_creator_monthly"},
                    "current_period_start": now,
                    "current_period_end": now + 30 * 86400,
                }
            ],
        },
        **extra,
    }
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": f"customer.subscription.{kind}",
        "created": created,
        "livemode": False,
        "data": {"object": subscription},
    }
    return msgspec.json.encode(event)


@pytest.fixture
async def stripe_client(database_url: str):
    settings = msgspec.structs.replace(
        make_settings(database_url), stripe=StripeSettings(webhook_secret=SECRET, previous_webhook_secret=PREVIOUS)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_subscription_lifecycle_moves_the_entitlement(stripe_client, db: asyncpg.Connection) -> None:
    auth = await sign_up(stripe_client)
    user_id, start = auth["user"]["id"], int(time.time())

    async def tier() -> str:
        return (await stripe_client.get("/api/v1/subscription/status", headers=bearer(auth))).json()["tier_slug"]

    trial = subscription_event(user_id, status="trialing", created=start, kind="created")
    response = await deliver(stripe_client, trial)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "outcome": "processed"}
    assert await tier() == "creator"
    await deliver(stripe_client, subscription_event(user_id, status="active", created=start + 10))
    await deliver(stripe_client, subscription_event(user_id, status="past_due", created=start + 20))
    assert await tier() == "creator"  # a failed renewal being retried keeps access in the billing grace
    await deliver(stripe_client, subscription_event(user_id, status="active", created=start + 30))
    assert await tier() == "creator"
    ended = subscription_event(user_id, status="canceled", created=start + 40, kind="deleted")
    await deliver(stripe_client, ended)
    assert await tier() == "free"
    history = await db.fetch(
        "select to_status from subscription_status_history where user_id = $1::uuid order by id", user_id
    )
    assert [r["to_status"] for r in history] == ["trialing", "active", "billing_retry", "active", "expired"]


async def test_a_late_older_event_cannot_move_the_subscription_back(stripe_client) -> None:
    auth = await sign_up(stripe_client)
    user_id, start = auth["user"]["id"], int(time.time())
    await deliver(stripe_client, subscription_event(user_id, status="active", created=start + 60))
    late = await deliver(stripe_client, subscription_event(user_id, status="trialing", created=start))
    assert late.status_code == 200
    status = (await stripe_client.get("/api/v1/subscription/status", headers=bearer(auth))).json()
    assert status["subscription"]["status"] == "active"


async def test_a_redelivered_event_takes_effect_once(stripe_client, db: asyncpg.Connection) -> None:
    user_id = (await sign_up(stripe_client))["user"]["id"]
    payload = subscription_event(user_id, status="active", created=int(time.time()), event_id="evt_dup")

    def counted(outcome: str) -> float:
        labels = {"provider": "stripe", "outcome": outcome}
        return REGISTRY.get_sample_value("cookcam_provider_events_total", labels) or 0.0

    before = counted("processed"), counted("duplicate")
    assert (await deliver(stripe_client, payload)).json()["outcome"] == "processed"
    assert (await deliver(stripe_client, payload)).json()["outcome"] == "duplicate"
    assert await db.fetchval("select count(*) from provider_events where event_id = 'evt_dup'") == 1
    assert (counted("processed") - before[0], counted("duplicate") - before[1]) == (1, 1)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=1,v1=deadbeef",
        "garbage",
    ],
)
async def test_unsigned_or_forged_events_are_refused(stripe_client, db: asyncpg.Connection, header: str) -> None:
    payload = subscription_event(str(uuid.uuid4()), status="active", created=int(time.time()))
    response = await deliver(stripe_client, payload, header)
    assert response.status_code == 400
    assert response.json()["code"] == "STRIPE_SIGNATURE_INVALID"
    assert await db.fetchval("select count(*) from provider_events") == 0


async def test_signature_over_a_different_body_or_with_a_wrong_secret_is_refused(stripe_client) -> None:
    payload = subscription_event(str(uuid.uuid4()), status="active", created=int(time.time()))
    tampered = payload.replace(b'"active"', b'"trialing"')
    assert (await deliver(stripe_client, tampered, signature(payload))).status_code == 400
    assert (await deliver(stripe_client, payload, signature(payload, "whsec_" + "x" * 40))).status_code == 400


async def test_stale_signatures_are_refused_and_the_previous_secret_still_verifies(stripe_client) -> None:
    user_id = (await sign_up(stripe_client))["user"]["id"]
    payload = subscription_event(user_id, status="active", created=int(time.time()))
    old = signature(payload, timestamp=int(time.time()) - 301)
    assert (await deliver(stripe_client, payload, old)).json()["code"] == "STRIPE_SIGNATURE_INVALID"
    rotated = await deliver(stripe_client, payload, signature(payload, PREVIOUS))
    assert rotated.status_code == 200


async def test_events_of_other_types_are_stored_and_acknowledged(stripe_client, db: asyncpg.Connection) -> None:
    payload = event("customer.updated", {"id": "cus_1", "object": "customer"}, event_id="evt_cus")
    assert (await deliver(stripe_client, payload)).json()["outcome"] == "processed"
    row = await db.fetchrow("select event_type, status, payload from provider_events where event_id = 'evt_cus'")
    assert (row["event_type"], row["status"]) == ("customer.updated", "processed")


async def test_a_subscription_for_an_unknown_price_or_no_user_changes_nothing(stripe_client, db) -> None:
    user_id = (await sign_up(stripe_client))["user"]["id"]
    payload = subscription_event(
        user_id,
        status="active",
        created=int(time.time()),
        items={"data": [{"price": {"id": "price_x", "lookup_key": "someone_elses_price"}}]},
    )
    assert (await deliver(stripe_client, payload)).status_code == 200
    no_user = subscription_event(user_id, status="active", created=int(time.time()), metadata={})
    assert (await deliver(stripe_client, no_user)).status_code == 200
    assert await db.fetchval("select count(*) from subscriptions") == 0


async def test_a_signed_body_that_is_not_an_event_is_400(stripe_client) -> None:
    payload = b'{"hello": "world"}'
    response = await deliver(stripe_client, payload)
    assert response.status_code == 400
    assert response.json()["code"] == "STRIPE_EVENT_INVALID"


async def test_without_a_configured_secret_the_webhook_is_503(client) -> None:
    payload = subscription_event(str(uuid.uuid4()), status="active", created=int(time.time()))
    response = await deliver(client, payload)
    assert response.status_code == 503
    assert response.json()["code"] == "STRIPE_UNCONFIGURED"


async def test_a_signed_event_with_nul_characters_is_stored_escaped_and_processed(
    stripe_client, db: asyncpg.Connection
) -> None:
    """jsonb (and text) cannot hold U+0000: the NUL a customer typed is stored escaped as the six characters
    `\\u0000`, the signature having been checked over the raw bytes as Stripe signed them."""
    auth = await sign_up(stripe_client)
    body = subscription_event(
        auth["user"]["id"], status="active", created=int(time.time()), event_id="evt_nul", description="Chef\x00Kim"
    )
    assert b"\\u0000" in body
    response = await deliver(stripe_client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "outcome": "processed"}
    stored = await db.fetchval("select payload from provider_events where event_id = 'evt_nul'")
    assert stored["data"]["object"]["description"] == "Chef\\u0000Kim"
    assert await db.fetchval("select tier_slug from subscriptions where user_id = $1::uuid", auth["user"]["id"]) == (
        "creator"
    )
    assert (await deliver(stripe_client, body)).json()["outcome"] == "duplicate"


async def test_a_signed_event_with_an_impossible_time_is_refused_not_an_outage(stripe_client, db) -> None:
    """Issue 15, item 17: 2**62 seconds made datetime raise OSError, which answered 503 DATABASE_UNAVAILABLE."""
    user_id = (await sign_up(stripe_client))["user"]["id"]
    items = {
        "data": [{"price": {"id": "price_1", "lookup_key": "cookcam_creator_monthly"}, "current_period_end": 2**62}]
    }
    payload = subscription_event(user_id, status="active", created=int(time.time()), event_id="evt_far", items=items)
    response = await deliver(stripe_client, payload)
    assert (response.status_code, response.json()["code"]) == (400, "STRIPE_EVENT_INVALID"), response.text
    # Stored and parked as failed (the retry job gives up after its attempts); nothing applied.
    assert await db.fetchval("select status from provider_events where event_id = 'evt_far'") == "failed"
    assert await db.fetchval("select count(*) from subscriptions") == 0
    created_far = subscription_event(user_id, status="active", created=2**62, event_id="evt_far_created")
    response = await deliver(stripe_client, created_far)
    assert (response.status_code, response.json()["code"]) == (400, "STRIPE_EVENT_INVALID"), response.text
    assert await db.fetchval("select count(*) from provider_events where event_id = 'evt_far_created'") == 0


async def test_an_event_for_another_accounts_subscription_or_a_deleted_account_completes_without_effect(
    stripe_client, db: asyncpg.Connection
) -> None:
    """The one-statement recording's refusals write nothing, and the event is stored processed all the same (a
    redelivery would be refused again): 200, so that Stripe stops delivering it."""
    owner, other = await sign_up(stripe_client), await sign_up(stripe_client)
    start = int(time.time())
    created = subscription_event(owner["user"]["id"], status="active", created=start, kind="created")
    assert (await deliver(stripe_client, created)).json()["outcome"] == "processed"

    claimed = subscription_event(other["user"]["id"], status="active", created=start + 10, event_id="evt_claimed")
    ghost = subscription_event(
        str(uuid.uuid4()), status="active", created=start + 20, event_id="evt_ghost", id="sub_ghost"
    )
    for payload in (claimed, ghost):
        response = await deliver(stripe_client, payload)
        assert (response.status_code, response.json()["outcome"]) == (200, "processed"), response.text

    holder = await db.fetchval(
        "select user_id::text from subscriptions where provider_subscription_id = 'sub_webhook_1'"
    )
    assert holder == owner["user"]["id"]
    assert await db.fetchval("select count(*) from subscriptions where provider_subscription_id = 'sub_ghost'") == 0
    caused = "select count(*) from subscription_status_history where cause_ref = any($1::text[])"
    assert await db.fetchval(caused, ["evt_claimed", "evt_ghost"]) == 0
    stored = "select event_id, status from provider_events where event_id = any($1::text[])"
    assert dict(await db.fetch(stored, ["evt_claimed", "evt_ghost"])) == {
        "evt_claimed": "processed",
        "evt_ghost": "processed",
    }
