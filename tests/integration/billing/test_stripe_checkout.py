"""Stripe Checkout against a loopback fake of Stripe's API, driven by the official client."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing import promotional
from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from app.server import create_app
from app.settings import DatabaseSettings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.stripe_api import fake_stripe
from tests.support import bearer, sign_up

CHECKOUT = "/api/v1/subscription/create-checkout"
STRIPE_PRICES = {
    "cookcam_regular_monthly": "price_reg_m",
    "cookcam_regular_yearly": "price_reg_y",
    "cookcam_creator_monthly": "price_cre_m",
    "cookcam_creator_yearly": "price_cre_y",
}
BODY = {
    "tier": "creator",
    "billing_period": "yearly",
    "success_url": "cookcam://checkout/success",
    "cancel_url": "cookcam://checkout/cancel",
}


async def test_checkout_creates_one_customer_and_a_trial_session(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.status_code == 200, response.text
    assert response.json()["checkout_url"].startswith("https://checkout.stripe.com/")
    session = stripe.sessions[-1]
    user_id = auth["user"]["id"]
    assert session["mode"] == "subscription"
    assert session["line_items"] == {"0": {"price": "price_cre_y", "quantity": "1"}}
    assert session["subscription_data"] == {"trial_period_days": "3", "metadata": {"user_id": user_id}}
    assert session["client_reference_id"] == user_id
    customer_id = await db.fetchval("select customer_id from stripe_customers where user_id = $1::uuid", user_id)
    assert session["customer"] == customer_id
    assert stripe.customers[customer_id]["metadata"] == {"user_id": user_id}

    second = await client.post(CHECKOUT, headers=bearer(auth), json={**BODY, "tier": "regular"})
    assert second.status_code == 200
    assert stripe.sessions[-1]["customer"] == customer_id  # reused, not created again
    assert len(stripe.customers) == 1
    posts = [r for r in stripe.requests if r[0] == "POST"]
    assert all(headers.get("idempotency-key", "").startswith("cookcam-") for _, _, headers, _ in posts)
    assert all(headers["authorization"] == "Bearer sk_test_" + "k" * 40 for _, _, headers, _ in stripe.requests)


async def test_a_repeated_request_gets_the_same_session(stripe_setup) -> None:
    client, _ = stripe_setup
    auth = await sign_up(client)
    first = (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).json()
    again = (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).json()
    assert first["session_id"] == again["session_id"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/steal",
        "https://cookcam.app.evil.example/",
        "javascript:alert(1)",
        "http://127.0.0.1:9999/",
    ],
)
async def test_return_addresses_must_be_on_the_allow_list(stripe_setup, url: str) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    response = await client.post(CHECKOUT, headers=bearer(auth), json={**BODY, "success_url": url})
    assert response.status_code == 422
    assert response.json()["code"] == "REDIRECT_NOT_ALLOWED"
    assert response.json()["details"][0]["field"] == "success_url"
    assert stripe.sessions == []


async def test_no_checkout_for_a_plan_already_held(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    state = ProviderState(
        user_id=uuid.UUID(auth["user"]["id"]),
        provider="apple",
        provider_subscription_id="2000",
        tier_slug="creator",
        status="active",
        current_period_end=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30),
        provider_updated_at=datetime.datetime.now(datetime.UTC),
    )
    await record_subscription_state(db, state, Cause("test", "apple"), billing_hooks())
    response = await client.post(CHECKOUT, headers=bearer(auth), json={**BODY, "tier": "regular"})
    assert response.status_code == 409
    assert response.json()["code"] == "ALREADY_SUBSCRIBED"
    assert stripe.sessions == []


async def test_stripe_outage_answers_503_and_creates_nothing(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    stripe.fail_next = 10  # more than the client's own retries
    response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.status_code == 503
    assert response.json()["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert await db.fetchval("select count(*) from stripe_customers") == 0


async def test_a_missing_price_is_a_clear_503(database_url) -> None:
    with fake_stripe({}) as (base_url, _):
        settings = msgspec.structs.replace(
            make_settings(database_url), stripe=StripeSettings(secret_key="sk_test_" + "k" * 40, api_base=base_url)
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            auth = await sign_up(client)
            response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.status_code == 503
    assert response.json()["code"] == "STRIPE_PRICE_UNCONFIGURED"


async def test_checkout_needs_a_user_and_a_configured_stripe(client) -> None:
    assert (await client.post(CHECKOUT, json=BODY)).status_code == 401
    auth = await sign_up(client)
    response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.json()["code"] == "STRIPE_UNCONFIGURED"
    bad = await client.post(CHECKOUT, headers=bearer(auth), json={**BODY, "tier": "platinum"})
    assert bad.status_code == 422


async def test_checkout_needs_only_the_requests_own_connection(database_url) -> None:
    """With a one-connection pool, a flow that borrowed a second connection would time out (503)."""
    with fake_stripe(STRIPE_PRICES) as (base_url, _):
        settings = msgspec.structs.replace(
            make_settings(database_url),
            database=DatabaseSettings(url=database_url, pool_min_size=1, pool_max_size=1, acquire_timeout_seconds=0.5),
            stripe=StripeSettings(secret_key="sk_test_" + "k" * 40, api_base=base_url),
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            auth = await sign_up(client)
            response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.status_code == 200, response.text


async def _record(db: asyncpg.Connection, user_id: str, provider: str, status: str, **extra: object) -> None:
    state = ProviderState(
        user_id=uuid.UUID(user_id),
        provider=provider,  # type: ignore[arg-type]
        provider_subscription_id=f"{provider}-{uuid.uuid4().hex[:8]}",
        tier_slug="regular",
        status=status,  # type: ignore[arg-type]
        provider_updated_at=datetime.datetime.now(datetime.UTC),
        **extra,  # type: ignore[arg-type]
    )
    await record_subscription_state(db, state, Cause("test", provider), billing_hooks())


@pytest.mark.parametrize(
    ("provider", "status", "extra"),
    [
        ("apple", "expired", {}),  # a paid subscription that ended
        ("google", "revoked", {}),  # paid, then refunded
        ("stripe", "expired", {"trial_ends_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}),  # a trial
    ],
)
async def test_one_free_trial_per_person(stripe_setup, db: asyncpg.Connection, provider, status, extra) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    await _record(db, auth["user"]["id"], provider, status, **extra)
    response = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert response.status_code == 200, response.text
    assert stripe.sessions[-1]["subscription_data"] == {"metadata": {"user_id": auth["user"]["id"]}}


async def test_no_trial_after_an_imported_subscription(stripe_setup, db: asyncpg.Connection) -> None:
    client, stripe = stripe_setup
    auth = await sign_up(client)
    await db.execute(
        "insert into imported_billing_bindings (provider, provider_subscription_id, user_id) values ('apple', '7', $1)",
        uuid.UUID(auth["user"]["id"]),
    )
    assert (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).status_code == 200
    assert "trial_period_days" not in stripe.sessions[-1]["subscription_data"]


async def test_a_promotional_grant_does_not_use_up_the_trial(stripe_setup, db: asyncpg.Connection) -> None:
    """An operator's promotional grant (`cookcam billing grant`) is neither a trial nor a payment."""
    client, stripe = stripe_setup
    auth = await sign_up(client)
    user_id = uuid.UUID(auth["user"]["id"])
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    await promotional.grant(db, billing_hooks(), user_id=user_id, tier="regular", until=until, operator="t", reason="x")
    await promotional.revoke(db, billing_hooks(), user_id=user_id, operator="t", reason="ended early")
    assert (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).status_code == 200
    assert stripe.sessions[-1]["subscription_data"]["trial_period_days"] == "3"


async def test_no_trial_for_a_stripe_customer_whose_earlier_subscription_we_never_recorded(
    stripe_setup, db: asyncpg.Connection
) -> None:
    """The Stripe customer's own history counts too (a webhook lost, the previous backend's subscription)."""
    client, stripe = stripe_setup
    auth = await sign_up(client)
    await db.execute(
        "insert into stripe_customers (user_id, customer_id) values ($1, 'cus_old')", uuid.UUID(auth["user"]["id"])
    )
    never_paid = {"id": "sub_never", "object": "subscription", "customer": "cus_old", "status": "incomplete_expired"}
    stripe.subscriptions["sub_never"] = {**never_paid, "trial_start": None}
    assert (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).status_code == 200
    assert stripe.sessions[-1]["subscription_data"]["trial_period_days"] == "3"  # never started: still eligible
    stripe.subscriptions["sub_old"] = {**never_paid, "id": "sub_old", "status": "canceled", "trial_start": 1700000000}
    again = await client.post(CHECKOUT, headers=bearer(auth), json={**BODY, "tier": "regular"})
    assert again.status_code == 200, again.text
    assert "trial_period_days" not in stripe.sessions[-1]["subscription_data"]
    listed = stripe.requests_to("GET", "/v1/subscriptions")[-1][1]
    assert (listed["customer"], listed["status"]) == ("cus_old", "all")


async def test_a_repeated_request_after_the_trial_was_used_is_a_new_session(stripe_setup, db) -> None:
    """Stripe refuses an idempotency key reused with other parameters: the key says whether a trial is offered, so the
    same request once the account has had a trial gets a new session instead of a 502."""
    client, stripe = stripe_setup
    auth = await sign_up(client)
    first = (await client.post(CHECKOUT, headers=bearer(auth), json=BODY)).json()
    await _record(db, auth["user"]["id"], "apple", "expired")
    again = await client.post(CHECKOUT, headers=bearer(auth), json=BODY)
    assert again.status_code == 200, again.text
    assert again.json()["session_id"] != first["session_id"]
    assert "trial_period_days" not in stripe.sessions[-1]["subscription_data"]
