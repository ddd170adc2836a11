"""Which payments earn a creator their share, and when it can be paid out (issue 14, items 6-8), through the real
paths: signed Stripe webhooks, App Store Server Notifications and Google Play validation against the loopback fakes,
then the balance, revenue and payout routes.

- Sandbox purchases (Stripe test mode `livemode: false`, the App Store's Sandbox environment, Google's
  `testPurchase`) and Apple Family Sharing (`inAppOwnershipType` FAMILY_SHARED) never earn.
- An earning is pending for its provider's hold (the refund and chargeback window); payouts take only what is
  available; a refund during the hold cancels the pending earning.
- A period that began before the subscriber was attributed earns nothing; the next one does."""

from __future__ import annotations

import contextlib
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import AppleSettings, CreatorSettings, GoogleSettings, OutboundSettings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.apple import APP_APPLE_ID, AppleSigner, Environment, FakeVerifyReceipt, fake_verify_receipt
from tests.fakes.google import PUBSUB_PUSH_EMAIL, FakeGoogle, NotificationType, fake_google
from tests.fakes.stripe_api import FakeStripe, fake_stripe
from tests.integration.billing.conftest import TEST_SECRET_KEY
from tests.integration.billing.stripe_support import SECRET, deliver
from tests.integration.creators.test_creators import creator
from tests.integration.creators.test_payouts import CONNECT_SECRET, onboarded
from tests.support import bearer, sign_up

SUB = "/api/v1/subscription"
APPLE_NOTIFY = "/api/v1/iap/notifications/apple"
VALIDATE = "/api/v1/iap/validate-receipt"
GOOGLE_NOTIFY = "/api/v1/iap/notifications/google"
GOOGLE_AUDIENCE = "https://api.cookcam.test/api/v1/iap/notifications/google"
SHARED_SECRET = "apple-shared-secret-for-tests"
FAST_RETRIES = OutboundSettings(retry_attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.05)
DAY = 86_400
# A referred creator yearly subscription through Stripe: 9990 less Stripe's 3 % = 9690, 30 % of it.
CREATOR_YEARLY_STRIPE = 2907
# A referred regular monthly subscription through a store: 399 less the store's 15 % = 339, 30 % of it.
REGULAR_MONTHLY_STORE = 101

Client = AsyncTestClient[Litestar]
Json = dict[str, Any]


@dataclass
class Harness:
    client: Client
    stripe: FakeStripe
    google: FakeGoogle
    signer: AppleSigner
    receipts: FakeVerifyReceipt


@pytest.fixture(scope="module")
def signer() -> AppleSigner:
    return AppleSigner()


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    with fake_google() as fake:
        yield fake


@contextlib.asynccontextmanager
async def serving(
    database_url: str, root: Path, signer: AppleSigner, google: FakeGoogle, creators: CreatorSettings
) -> AsyncIterator[Harness]:
    """The app against the three providers' fakes: Stripe (payments and Connect), the App Store in both
    environments (signed data, for which production needs the app's Apple id, and legacy receipts), Google Play."""
    google.reset()
    with fake_stripe() as (stripe_base, stripe), fake_verify_receipt(shared_secret=SHARED_SECRET) as receipts:
        settings = msgspec.structs.replace(
            make_settings(database_url),
            stripe=StripeSettings(
                secret_key=TEST_SECRET_KEY,
                api_base=stripe_base,
                webhook_secret=SECRET,
                connect_webhook_secret=CONNECT_SECRET,
            ),
            apple=AppleSettings(
                root_certificates=(str(signer.write_root(root / "AppleRootCA-test.cer")),),
                app_apple_id=APP_APPLE_ID,
                shared_secret=SHARED_SECRET,
                verify_receipt_url=receipts.production_url,
                sandbox_verify_receipt_url=receipts.sandbox_url,
            ),
            google=GoogleSettings(
                service_account_file=str(google.write_service_account(root / "service-account.json")),
                androidpublisher_base=google.base_url,
                rtdn_audience=GOOGLE_AUDIENCE,
                rtdn_service_account_email=PUBSUB_PUSH_EMAIL,
                oidc_certs_url=google.certs_url,
            ),
            outbound=FAST_RETRIES,
            creators=creators,
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Harness(client, stripe, google, signer, receipts)


@pytest.fixture
async def app(database_url: str, tmp_path: Path, signer: AppleSigner, google: FakeGoogle) -> AsyncIterator[Harness]:
    async with serving(database_url, tmp_path, signer, google, CreatorSettings()) as harness:
        yield harness


async def referrer(client: Client, db: asyncpg.Connection) -> tuple[Json, str]:
    """A creator with one affiliate link, and the link's slug."""
    auth = await creator(client, db)
    slug = f"chef-{uuid.uuid4().hex[:8]}"
    response = await client.post(f"{SUB}/affiliate/generate", headers=bearer(auth), json={"custom_slug": slug})
    assert response.status_code == 201, response.text
    return auth, slug


async def link(client: Client, cook: Json, slug: str) -> None:
    response = await client.post("/api/v1/auth/link-referral", headers=bearer(cook), json={"referral_code": slug})
    assert response.status_code == 200, response.text


async def referred(client: Client, slug: str) -> Json:
    cook = await sign_up(client)
    await link(client, cook, slug)
    return cook


def stripe_subscription(
    cook: Json,
    *,
    start: int,
    livemode: bool = True,
    lookup_key: str = "cookcam_creator_yearly",
    days: int = 365,
    cancel_at_period_end: bool = False,
    subscription_id: str | None = None,
) -> dict[str, Any]:
    """A Stripe subscription object as Stripe sends it: `livemode` false for one made with test keys."""
    return {
        "id": subscription_id or f"sub_{uuid.uuid4().hex[:14]}",
        "object": "subscription",
        "status": "active",
        "customer": f"cus_{cook['user']['id'][:8]}",
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"user_id": cook["user"]["id"]},
        "livemode": livemode,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_1", "lookup_key": lookup_key},
                    "current_period_start": start,
                    "current_period_end": start + days * DAY,
                }
            ],
        },
    }


async def send_stripe(client: Client, kind: str, obj: dict[str, Any], *, created: int) -> None:
    """A signed event about `obj`; an event's `livemode` is its object's."""
    payload = msgspec.json.encode(
        {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": kind,
            "created": created,
            "livemode": obj.get("livemode", True),
            "data": {"object": obj},
        }
    )
    response = await deliver(client, payload)
    assert response.status_code == 200, response.text


async def balance(client: Client, auth: Json) -> Json:
    response = await client.get(f"{SUB}/creator/balance", headers=bearer(auth))
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def earnings(client: Client, auth: Json) -> list[Json]:
    response = await client.get(f"{SUB}/creator/revenue", headers=bearer(auth))
    assert response.status_code == 200, response.text
    rows: list[Json] = response.json()["earnings"]
    return rows


async def earners(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch("select referred_user_id::text from creator_earnings where kind = 'earning'")
    return {row["referred_user_id"] for row in rows}


def moment(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


# -- Item 6: sandbox purchases and Family Sharing never earn ----------------------------------------------------------


async def test_a_stripe_test_mode_subscription_never_earns(app: Harness, db: asyncpg.Connection) -> None:
    anna, slug = await referrer(app.client, db)
    test_mode, live = await referred(app.client, slug), await referred(app.client, slug)
    start = int(time.time()) + 1  # after both attributions
    for cook, livemode in ((test_mode, False), (live, True)):
        subscription = stripe_subscription(cook, start=start, livemode=livemode)
        await send_stripe(app.client, "customer.subscription.created", subscription, created=start)
    # Both subscribers have their tier (a test-mode subscription is still one)...
    statuses = await db.fetch("select environment from subscriptions where status = 'active' order by environment")
    assert [row["environment"] for row in statuses].count("sandbox") == 1
    # ...but only the live one earns.
    assert await earners(db) == {live["user"]["id"]}
    assert (await balance(app.client, anna))["earned_cents"] == CREATOR_YEARLY_STRIPE


async def test_app_store_sandbox_and_family_shared_transactions_never_earn(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, slug = await referrer(app.client, db)
    sandbox, family, bought = [await referred(app.client, slug) for _ in range(3)]
    cases: tuple[tuple[Json, Environment, str], ...] = (
        (sandbox, "Sandbox", "PURCHASED"),  # TestFlight, App Review
        (family, "Production", "FAMILY_SHARED"),  # a family member's access to the organizer's purchase
        (bought, "Production", "PURCHASED"),
    )
    for cook, environment, ownership in cases:
        transaction = app.signer.transaction(
            environment=environment, inAppOwnershipType=ownership, appAccountToken=cook["user"]["id"]
        )
        body = app.signer.notification(
            "SUBSCRIBED",
            "INITIAL_BUY",
            transaction=transaction,
            renewal_info=app.signer.renewal_info(transaction),
            environment=environment,
        )
        response = await app.client.post(APPLE_NOTIFY, json=body)
        assert response.status_code == 200, response.text
    # A legacy receipt (verifyReceipt) says the same with `in_app_ownership_type`.
    receipt_family = await referred(app.client, slug)
    entry = app.receipts.receipt_info(in_app_ownership_type="FAMILY_SHARED")
    app.receipts.add_receipt("receipt-family", environment="Production", latest_receipt_info=[entry])
    validated = await app.client.post(
        VALIDATE, headers=bearer(receipt_family), json={"platform": "ios", "receipt": "receipt-family"}
    )
    assert (validated.status_code, validated.json()["environment"]) == (200, "production"), validated.text
    assert await db.fetchval("select count(*) from subscriptions where provider = 'apple'") == 4
    assert await earners(db) == {bought["user"]["id"]}
    assert (await balance(app.client, anna))["earned_cents"] == REGULAR_MONTHLY_STORE


async def test_a_google_play_test_purchase_never_earns(app: Harness, db: asyncpg.Connection) -> None:
    anna, slug = await referrer(app.client, db)
    tester, buyer = await referred(app.client, slug), await referred(app.client, slug)
    for cook, token, test_purchase in ((tester, "tok-license-tester", True), (buyer, "tok-bought", False)):
        app.google.add_subscription(token, test_purchase=test_purchase)
        response = await app.client.post(
            VALIDATE, headers=bearer(cook), json={"platform": "android", "purchase_token": token}
        )
        assert (response.status_code, response.json()["status"]) == (200, "active"), response.text
        assert response.json()["environment"] == ("sandbox" if test_purchase else "production")
    assert await earners(db) == {buyer["user"]["id"]}
    assert (await balance(app.client, anna))["earned_cents"] == REGULAR_MONTHLY_STORE


# -- Item 7: the hold --------------------------------------------------------------------------------------------------


async def test_earnings_are_pending_for_their_providers_hold_and_payouts_take_only_what_is_available(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, _ = await onboarded(app.client, app.stripe, db)
    slug = f"chef-{uuid.uuid4().hex[:8]}"
    await app.client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": slug})
    on_stripe, on_apple = await referred(app.client, slug), await referred(app.client, slug)
    start = int(time.time()) + 1
    await send_stripe(
        app.client, "customer.subscription.created", stripe_subscription(on_stripe, start=start), created=start
    )
    transaction = app.signer.transaction(environment="Production", appAccountToken=on_apple["user"]["id"])
    body = app.signer.notification("SUBSCRIBED", transaction=transaction, environment="Production")
    assert (await app.client.post(APPLE_NOTIFY, json=body)).status_code == 200

    earned = CREATOR_YEARLY_STRIPE + REGULAR_MONTHLY_STORE
    assert await balance(app.client, anna) == {
        "available_cents": 0,
        "earned_cents": earned,
        "paid_out_cents": 0,
        "pending_payout_cents": 0,
        "currency": "usd",
        "minimum_payout_cents": 1000,
        "pending_earnings_cents": earned,
    }
    # Each earning says when it becomes payable: the defaults are Stripe 60 days and the App Store 90.
    held = {e["provider"]: moment(e["payable_at"]) - moment(e["created_at"]) for e in await earnings(app.client, anna)}
    assert {provider: round(hold / datetime.timedelta(days=1)) for provider, hold in held.items()} == {
        "stripe": 60,
        "apple": 90,
    }
    refused = await app.client.post(f"{SUB}/creator/payout", headers=bearer(anna), json={"amount_cents": 1000})
    assert (refused.status_code, refused.json()["code"]) == (422, "INSUFFICIENT_BALANCE")
    assert app.stripe.transfers == {}


async def test_a_provider_without_a_hold_pays_out_at_once(
    database_url: str, tmp_path: Path, signer: AppleSigner, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    creators = CreatorSettings(hold_days_stripe=0)
    async with serving(database_url, tmp_path, signer, google, creators) as app:
        anna, _ = await onboarded(app.client, app.stripe, db)
        slug = f"chef-{uuid.uuid4().hex[:8]}"
        await app.client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": slug})
        on_stripe, on_google = await referred(app.client, slug), await referred(app.client, slug)
        start = int(time.time()) + 1
        subscription = stripe_subscription(on_stripe, start=start)
        await send_stripe(app.client, "customer.subscription.created", subscription, created=start)
        app.google.add_subscription("tok-held", test_purchase=False)
        validated = await app.client.post(
            VALIDATE, headers=bearer(on_google), json={"platform": "android", "purchase_token": "tok-held"}
        )
        assert validated.status_code == 200, validated.text

        before = await balance(app.client, anna)
        assert (before["available_cents"], before["pending_earnings_cents"]) == (
            CREATOR_YEARLY_STRIPE,
            REGULAR_MONTHLY_STORE,  # Google's hold (60 days by default) still applies
        )
        paid = await app.client.post(f"{SUB}/creator/payout", headers=bearer(anna), json={})
        assert (paid.status_code, paid.json()["amount_cents"]) == (201, CREATOR_YEARLY_STRIPE), paid.text
        assert [t["amount"] for t in app.stripe.transfers.values()] == [CREATOR_YEARLY_STRIPE]
        after = await balance(app.client, anna)
        assert (after["available_cents"], after["paid_out_cents"], after["pending_earnings_cents"]) == (
            0,
            CREATOR_YEARLY_STRIPE,
            REGULAR_MONTHLY_STORE,
        )


async def test_a_refund_during_the_hold_cancels_the_pending_earning(app: Harness, db: asyncpg.Connection) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    start = int(time.time()) + 1
    subscription = stripe_subscription(cook, start=start)
    app.stripe.subscriptions[subscription["id"]] = subscription
    # The Stripe customer our checkout would have created for this account.
    await db.execute(
        "insert into stripe_customers (user_id, customer_id) values ($1::uuid, $2)",
        cook["user"]["id"],
        subscription["customer"],
    )
    # Stripe's `created` is never ahead of its clock (the revocation below is stamped with ours).
    await send_stripe(app.client, "customer.subscription.created", subscription, created=int(time.time()))
    assert (await balance(app.client, anna))["pending_earnings_cents"] == CREATOR_YEARLY_STRIPE

    charge = {"id": "ch_refund", "object": "charge", "customer": subscription["customer"], "amount": 9990}
    refunded = {**charge, "amount_refunded": 9990, "refunded": True, "livemode": True}
    await send_stripe(app.client, "charge.refunded", refunded, created=int(time.time()))

    after = await balance(app.client, anna)
    assert (after["earned_cents"], after["pending_earnings_cents"], after["available_cents"]) == (0, 0, 0)
    ledger = await earnings(app.client, anna)
    assert sorted(e["kind"] for e in ledger) == ["earning", "reversal"]
    assert len({e["payable_at"] for e in ledger}) == 1  # the reversal is held exactly as its earning was


# -- Item 8: periods count from the attribution on --------------------------------------------------------------------


async def test_a_period_that_began_before_the_attribution_earns_nothing_and_the_next_one_does(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await sign_up(app.client)
    now = int(time.time())
    subscription_id = f"sub_{uuid.uuid4().hex[:14]}"
    began = now - 10 * DAY  # subscribed before meeting the creator's link

    def period(start: int, **changes: Any) -> dict[str, Any]:
        return stripe_subscription(
            cook, start=start, lookup_key="cookcam_regular_monthly", days=30, subscription_id=subscription_id, **changes
        )

    await send_stripe(app.client, "customer.subscription.created", period(began), created=now)
    await link(app.client, cook, slug)
    # Something changes within the same period (auto-renew switched off): the state is recorded again, and the
    # revenue share looks at the period again. It began before the attribution: nothing.
    turned_off = period(began, cancel_at_period_end=True)
    await send_stripe(app.client, "customer.subscription.updated", turned_off, created=now + 1)
    assert await db.fetchval("select count(*) from creator_earnings") == 0
    assert (await balance(app.client, anna))["earned_cents"] == 0

    renewed = now + 20 * DAY
    await send_stripe(app.client, "customer.subscription.updated", period(renewed), created=now + 2)
    ledger = await earnings(app.client, anna)
    assert [(e["kind"], e["amount_cents"]) for e in ledger] == [("earning", 116)]  # 399 less 3 %, 30 %
    assert moment(ledger[0]["period_start"]) == datetime.datetime.fromtimestamp(renewed, datetime.UTC)


# -- Google Play: every renewal is a period of its own, and a voided order reverses its period -------------------------


async def push_google(app: Harness, notification: Json, *, message_id: str | None = None) -> Json:
    """A Pub/Sub push of a Play developer notification, signed as Pub/Sub signs it."""
    token = app.google.pubsub_token(audience=GOOGLE_AUDIENCE)
    body = app.google.push_body(notification, message_id=message_id)
    response = await app.client.post(GOOGLE_NOTIFY, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    outcome: Json = response.json()
    return outcome


async def renew_google(app: Harness, token: str) -> str:
    """Play renews the subscription (a new order, a new expiry) and says so; returns the renewal's order id."""
    renewed = app.google.renew(token)
    await push_google(app, app.google.subscription_notification(token, NotificationType.RENEWED))
    order_id: str = renewed["lineItems"][0]["latestSuccessfulOrderId"]
    return order_id


async def bought_on_google(app: Harness, cook: Json, token: str) -> str:
    """The app validates a new Play purchase for `cook`; returns its first order id."""
    purchase = app.google.add_subscription(token)
    response = await app.client.post(
        VALIDATE, headers=bearer(cook), json={"platform": "android", "purchase_token": token}
    )
    assert (response.status_code, response.json()["status"]) == (200, "active"), response.text
    order_id: str = purchase["lineItems"][0]["latestSuccessfulOrderId"]
    return order_id


async def test_each_google_renewal_earns_once(app: Harness, db: asyncpg.Connection) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    await bought_on_google(app, cook, "tok-renews")
    await renew_google(app, "tok-renews")
    # Google may notify a renewal more than once (and reconciliation reads it again): the same order earns once.
    await push_google(app, app.google.subscription_notification("tok-renews", NotificationType.RENEWED))
    await renew_google(app, "tok-renews")

    ledger = await earnings(app.client, anna)
    assert [(e["kind"], e["amount_cents"]) for e in ledger] == [("earning", REGULAR_MONTHLY_STORE)] * 3
    starts = sorted(moment(e["period_start"]) for e in ledger)
    assert len(set(starts)) == 3
    # The first period starts at startTime, each renewal where the one before ended (at its expiryTime).
    resource = app.google.subscriptions["tok-renews"].resource()
    assert starts[0] == datetime.datetime.fromisoformat(resource["startTime"])
    assert starts[2] < datetime.datetime.fromisoformat(resource["lineItems"][0]["expiryTime"])
    assert (await balance(app.client, anna))["earned_cents"] == 3 * REGULAR_MONTHLY_STORE


async def test_a_google_subscription_begun_before_the_link_earns_from_the_next_renewal(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await sign_up(app.client)
    await bought_on_google(app, cook, "tok-before-link")
    await link(app.client, cook, slug)
    # The running period is looked at again (auto-renew switched off): it began before the link, so nothing.
    app.google.update_subscription("tok-before-link", auto_renew=False)
    await push_google(app, app.google.subscription_notification("tok-before-link", NotificationType.CANCELED))
    assert await db.fetchval("select count(*) from creator_earnings") == 0

    app.google.update_subscription("tok-before-link", auto_renew=True)
    renewal = await renew_google(app, "tok-before-link")
    ledger = await earnings(app.client, anna)
    assert [(e["kind"], e["amount_cents"]) for e in ledger] == [("earning", REGULAR_MONTHLY_STORE)]
    assert await db.fetchval("select period_key from creator_earnings") == f"google:tok-before-link:{renewal}"


async def test_a_voided_google_order_reverses_its_pending_earning_once(app: Harness, db: asyncpg.Connection) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    first = await bought_on_google(app, cook, "tok-voided")
    await renew_google(app, "tok-voided")
    assert (await balance(app.client, anna))["pending_earnings_cents"] == 2 * REGULAR_MONTHLY_STORE

    # Google refunds the first period's order without revoking the subscription: only that order's earning goes,
    # during the hold, and the subscriber keeps the running (second) period.
    voided = app.google.voided_purchase_notification("tok-voided", first)
    assert (await push_google(app, voided, message_id="void-1"))["outcome"] == "processed"
    after = await balance(app.client, anna)
    assert (after["earned_cents"], after["pending_earnings_cents"], after["available_cents"]) == (
        REGULAR_MONTHLY_STORE,
        REGULAR_MONTHLY_STORE,
        0,
    )
    reversal = await db.fetchrow("select period_key, amount_cents from creator_earnings where kind = 'reversal'")
    assert reversal is not None
    assert (reversal["period_key"], reversal["amount_cents"]) == (f"google:tok-voided:{first}", -REGULAR_MONTHLY_STORE)
    assert await db.fetchval("select status from subscriptions") == "active"

    # Pub/Sub redelivers the message, and Google notifies the same voided order again: nothing more.
    assert (await push_google(app, voided, message_id="void-1"))["outcome"] == "duplicate"
    assert (await push_google(app, voided, message_id="void-2"))["outcome"] == "processed"
    assert await db.fetchval("select count(*) from creator_earnings where kind = 'reversal'") == 1
    assert (await balance(app.client, anna))["earned_cents"] == REGULAR_MONTHLY_STORE


async def test_a_voided_and_revoked_google_order_reverses_an_available_earning_and_ends_access(
    database_url: str, tmp_path: Path, signer: AppleSigner, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    async with serving(database_url, tmp_path, signer, google, CreatorSettings(hold_days_google=0)) as app:
        anna, slug = await referrer(app.client, db)
        cook = await referred(app.client, slug)
        order = await bought_on_google(app, cook, "tok-charged-back")
        assert (await balance(app.client, anna))["available_cents"] == REGULAR_MONTHLY_STORE  # past its hold

        # A chargeback: Google voids the order and revokes the subscription (subscriptionsv2 then says EXPIRED).
        now = datetime.datetime.now(datetime.UTC)
        app.google.update_subscription("tok-charged-back", state="SUBSCRIPTION_STATE_EXPIRED", expiry=now)
        await push_google(app, app.google.voided_purchase_notification("tok-charged-back", order))

        after = await balance(app.client, anna)
        assert (after["earned_cents"], after["available_cents"], after["pending_earnings_cents"]) == (0, 0, 0)
        status = await app.client.get(f"{SUB}/status", headers=bearer(cook))
        assert status.json()["tier_slug"] == "free", status.text


async def test_a_voided_purchase_nobody_here_holds_is_stored_without_effect(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    order = await bought_on_google(app, cook, "tok-ours")
    stranger = app.google.voided_purchase_notification("tok-unknown-to-us", "GPA.1111-2222-3333-44444")
    assert (await push_google(app, stranger))["outcome"] == "processed"
    # A one-time product's voided order (we sell none), even one naming our token: no effect either.
    one_time = app.google.voided_purchase_notification("tok-ours", order, product_type=2)
    assert (await push_google(app, one_time))["outcome"] == "processed"

    events = await db.fetch("select event_type, status from provider_events where provider = 'google'")
    assert [(e["event_type"], e["status"]) for e in events] == [("voided_purchase", "processed")] * 2
    assert (await balance(app.client, anna))["earned_cents"] == REGULAR_MONTHLY_STORE


async def test_a_google_period_earned_under_its_start_is_not_earned_again_under_its_order(
    app: Harness, db: asyncpg.Connection
) -> None:
    """Google periods were keyed by their start (Play's startTime) before they were keyed by their order: a first
    period recorded that way does not earn a second time when its order is read."""
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    order = await bought_on_google(app, cook, "tok-legacy")
    # The earning as the earlier code recorded it: the same row, keyed by the period's start.
    await db.execute(
        """
        with earned as (delete from creator_earnings where period_key = $1 returning *)
        insert into creator_earnings (creator_id, link_id, referred_user_id, subscription_id, provider, period_start,
                                      kind, amount_cents, net_cents, share_percent, currency, period_key, payable_at)
        select creator_id, link_id, referred_user_id, subscription_id, provider, period_start, kind, amount_cents,
               net_cents, share_percent, currency,
               'google:tok-legacy:' || to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               payable_at
        from earned
        """,
        f"google:tok-legacy:{order}",
    )
    app.google.update_subscription("tok-legacy", auto_renew=False)
    await push_google(app, app.google.subscription_notification("tok-legacy", NotificationType.CANCELED))

    assert await db.fetchval("select count(*) from creator_earnings") == 1
    assert (await balance(app.client, anna))["earned_cents"] == REGULAR_MONTHLY_STORE
    await renew_google(app, "tok-legacy")  # the next period is its own
    assert (await balance(app.client, anna))["earned_cents"] == 2 * REGULAR_MONTHLY_STORE


async def test_a_voided_order_of_a_purchase_google_no_longer_answers_for_still_reverses(
    app: Harness, db: asyncpg.Connection
) -> None:
    anna, slug = await referrer(app.client, db)
    cook = await referred(app.client, slug)
    order = await bought_on_google(app, cook, "tok-gone")
    app.google.update_subscription("tok-gone", gone=True)  # Google answers 410 for it now
    await push_google(app, app.google.voided_purchase_notification("tok-gone", order))
    assert (await balance(app.client, anna))["earned_cents"] == 0
    assert await db.fetchval("select status from subscriptions") == "active"  # nothing read, nothing changed
