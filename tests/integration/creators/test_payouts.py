"""Creator payouts through Stripe Connect Express, against the loopback fake of Stripe's API: one account per
creator however often onboarding is called, account status kept by signed Connect webhooks (once, in order),
payouts refused below the minimum, above the balance or before the account is ready, one transfer per payout
whatever fails or races (its idempotency key is the payout's id), refusals and reversals returning the amount."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.db.queries import events as events_q
from app.ops.jobs import run_locked
from app.server import create_app
from app.settings import Settings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.stripe_api import FakeStripe, fake_stripe
from tests.integration.billing.conftest import TEST_SECRET_KEY
from tests.integration.billing.stripe_support import SECRET, deliver, signature
from tests.integration.creators.test_creators import creator
from tests.support import PASSWORD, bearer, sign_up

SUB = "/api/v1/subscription"
CONNECT_WEBHOOK = f"{SUB}/webhook/stripe-connect"
CONNECT_SECRET = "whsec_" + "connect" * 6
CONNECT_PREVIOUS = "whsec_" + "connectold" * 4
URLS = {"refresh_url": "cookcam://payouts/refresh", "return_url": "http://127.0.0.1:8000/payouts/done"}


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[tuple[AsyncTestClient, FakeStripe, Settings]]:
    with fake_stripe() as (base_url, stripe):
        settings = msgspec.structs.replace(
            make_settings(database_url),
            stripe=StripeSettings(
                secret_key=TEST_SECRET_KEY,
                api_base=base_url,
                webhook_secret=SECRET,
                connect_webhook_secret=CONNECT_SECRET,
                previous_connect_webhook_secret=CONNECT_PREVIOUS,
            ),
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield client, stripe, settings


def connect_event(obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None) -> bytes:
    return msgspec.json.encode(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": "account.updated",
            "account": obj["id"],
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "data": {"object": obj},
        }
    )


async def deliver_connect(client, payload: bytes, secret: str = CONNECT_SECRET):
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature(payload, secret)}
    return await client.post(CONNECT_WEBHOOK, content=payload, headers=headers)


async def earn(db: asyncpg.Connection, creator_id: str, cents: int) -> None:
    """An earning whose hold is over (test_earning_rules.py covers the hold through the providers' paths)."""
    await db.execute(
        "insert into creator_earnings (creator_id, provider, period_start, kind, amount_cents, net_cents,"
        " share_percent, currency, period_key, payable_at)"
        " values ($1::uuid, 'stripe', now(), 'earning', $2, $2, 30, 'usd', $3, now())",
        creator_id,
        cents,
        f"test:{uuid.uuid4()}",
    )


async def onboarded(client, stripe: FakeStripe, db: asyncpg.Connection, *, earned: int = 0) -> tuple[dict, str]:
    """A creator whose Express account finished onboarding (Stripe said so by a Connect webhook)."""
    auth = await creator(client, db)
    assert (await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(auth), json=URLS)).status_code == 200
    account_id = await db.fetchval(
        "select stripe_account_id from creator_payout_accounts where creator_id = $1::uuid", auth["user"]["id"]
    )
    assert (await deliver_connect(client, connect_event(stripe.enable_payouts(account_id)))).status_code == 200
    if earned:
        await earn(db, auth["user"]["id"], earned)
    return auth, account_id


async def balance(client, auth: dict) -> dict:
    return (await client.get(f"{SUB}/creator/balance", headers=bearer(auth))).json()


async def run_retry_job(settings: Settings, database_url: str) -> str:
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        return await run_locked("retry-events", pool, settings, payments)
    finally:
        await payments.close()
        await pool.close()


async def test_onboarding_creates_one_account_and_checks_the_return_addresses(setup, db) -> None:
    client, stripe, _ = setup
    plain = await sign_up(client)
    refused = await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(plain), json=URLS)
    assert (refused.status_code, refused.json()["code"]) == (403, "CREATOR_REQUIRED")
    assert (await client.post(f"{SUB}/creator/stripe/onboard", json=URLS)).status_code == 401
    anna = await creator(client, db)
    status = (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()
    assert (status["connected"], status["payouts_enabled"], status["updated_at"]) == (False, False, None)
    for field, url in (("return_url", "https://evil.example/done"), ("refresh_url", "javascript:alert(1)")):
        response = await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json={**URLS, field: url})
        assert (response.status_code, response.json()["code"]) == (422, "REDIRECT_NOT_ALLOWED")
        assert response.json()["details"][0]["field"] == field
    missing = await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json={"return_url": "x"})
    assert (missing.status_code, missing.json()["code"]) == (422, "VALIDATION_ERROR")
    assert stripe.requests_to("POST", "/v1/accounts") == []

    # Called twice in a row and three times at once: one Express account, and a fresh link each time.
    answers = [await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json=URLS) for _ in range(2)]
    answers += await asyncio.gather(
        *(client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json=URLS) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
    assert all(a.json()["url"].startswith("https://connect.stripe.com/setup/e/acct_") for a in answers)
    assert len(stripe.accounts) == 1
    (account_id, account), *_ = stripe.accounts.items()
    assert (account["type"], account["metadata"]) == ("express", {"creator_id": anna["user"]["id"]})
    keys = {headers["idempotency-key"] for headers, _ in stripe.requests_to("POST", "/v1/accounts")}
    assert keys == {f"cookcam-connect-account-{anna['user']['id']}"}
    links = stripe.requests_to("POST", "/v1/account_links")
    assert len(links) == 5 and links[0][1] == {"account": account_id, "type": "account_onboarding", **URLS}
    status = (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()
    assert (status["connected"], status["payouts_enabled"], status["details_submitted"]) == (True, False, False)
    assert status["requirements_due"] == ["external_account", "tos_acceptance.date"]


async def test_connect_webhooks_keep_the_account_status_once_and_in_order(setup, db, database_url) -> None:
    client, stripe, settings = setup
    anna = await creator(client, db)
    await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json=URLS)
    account_id = next(iter(stripe.accounts))
    ready = connect_event(stripe.enable_payouts(account_id), event_id="evt_ready")

    forged = await deliver_connect(client, ready, secret=SECRET)  # the payments endpoint's secret is not this one's
    assert (forged.status_code, forged.json()["code"]) == (400, "STRIPE_SIGNATURE_INVALID")
    assert (await deliver(client, ready)).status_code == 200  # signed for the payments endpoint: no Connect effect
    assert not (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()["payouts_enabled"]
    assert await db.fetchval("select count(*) from provider_events where provider = 'stripe_connect'") == 0

    first = await deliver_connect(client, ready)
    assert first.json() == {"received": True, "outcome": "processed"}
    assert (await deliver_connect(client, ready, secret=CONNECT_PREVIOUS)).json()["outcome"] == "duplicate"
    status = (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()
    assert (status["payouts_enabled"], status["details_submitted"], status["requirements_due"]) == (True, True, [])

    # An older description of the account, delivered late, is stored as an event and changes nothing.
    older = {**stripe.accounts[account_id], "payouts_enabled": False}
    late = await deliver_connect(client, connect_event(older, created=int(time.time()) - 600))
    assert late.json()["outcome"] == "processed"
    assert (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()["payouts_enabled"]

    # Stripe disabled payouts, and the webhook was lost: a refresh asks Stripe.
    stripe.accounts[account_id].update(payouts_enabled=False)
    stripe.accounts[account_id]["requirements"] = {"currently_due": [], "past_due": ["individual.id_number"]}
    refreshed = (await client.get(f"{SUB}/creator/stripe/status?refresh=true", headers=bearer(anna))).json()
    assert (refreshed["payouts_enabled"], refreshed["requirements_due"]) == (False, ["individual.id_number"])

    # A Connect event left unfinished (a crashed worker) is finished by the retry job from its stored payload.
    later = int(time.time()) + 5  # after the refresh above
    ready_again = connect_event(stripe.enable_payouts(account_id), created=later, event_id="evt_abandoned")
    abandoned = msgspec.json.decode(ready_again)
    await events_q.claim_event(
        db,
        provider="stripe_connect",
        event_id="evt_abandoned",
        event_type="account.updated",
        payload=abandoned,
        lease_seconds=0,
    )
    assert "1 recovered" in await run_retry_job(settings, database_url)
    assert (await client.get(f"{SUB}/creator/stripe/status", headers=bearer(anna))).json()["payouts_enabled"]


async def test_payouts_are_refused_before_the_account_is_ready_below_the_minimum_and_above_the_balance(
    setup, db
) -> None:
    client, stripe, _ = setup
    cook = await sign_up(client)
    refused = await client.post(f"{SUB}/creator/payout", headers=bearer(cook))
    assert (refused.status_code, refused.json()["code"]) == (403, "CREATOR_REQUIRED")
    anna = await creator(client, db)
    await earn(db, anna["user"]["id"], 5000)
    not_ready = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))
    assert (not_ready.status_code, not_ready.json()["code"]) == (409, "PAYOUT_ACCOUNT_NOT_READY")
    await client.post(f"{SUB}/creator/stripe/onboard", headers=bearer(anna), json=URLS)
    still = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))  # onboarding not finished
    assert (still.status_code, still.json()["code"]) == (409, "PAYOUT_ACCOUNT_NOT_READY")

    ben, _ = await onboarded(client, stripe, db, earned=900)
    for body, expected in (
        (None, (422, "PAYOUT_BELOW_MINIMUM")),  # the whole balance, 900, is under the 1000 minimum
        ({"amount_cents": 999}, (422, "PAYOUT_BELOW_MINIMUM")),
        ({"amount_cents": 0}, (422, "VALIDATION_ERROR")),
        ({"amount_cents": 1000}, (422, "INSUFFICIENT_BALANCE")),
    ):
        response = await client.post(f"{SUB}/creator/payout", headers=bearer(ben), json=body)
        assert (response.status_code, response.json()["code"]) == expected, body
    assert stripe.requests_to("POST", "/v1/transfers") == []
    assert await db.fetchval("select count(*) from creator_payouts") == 0


async def test_a_payout_is_a_transfer_keyed_by_its_id_and_leaves_the_balance(setup, db) -> None:
    client, stripe, _ = setup
    anna, account_id = await onboarded(client, stripe, db, earned=2500)
    notices: list[str] = []
    await db.add_listener("cookcam_events", lambda *args: notices.append(args[-1]))
    paid = await client.post(f"{SUB}/creator/payout", headers=bearer(anna), json={"amount_cents": 1500})
    assert paid.status_code == 201, paid.text
    payout = paid.json()
    assert (payout["status"], payout["amount_cents"], payout["currency"]) == ("paid", 1500, "usd")
    ((headers, params),) = stripe.requests_to("POST", "/v1/transfers")
    assert headers["idempotency-key"] == payout["id"]
    assert (params["amount"], params["destination"], params["metadata"]["payout_id"]) == (
        "1500",
        account_id,
        payout["id"],
    )
    (transfer,) = stripe.transfers.values()
    stored = await db.fetchrow("select status, stripe_transfer_id from creator_payouts where id = $1", payout["id"])
    assert (stored["status"], stored["stripe_transfer_id"]) == ("paid", transfer["id"])
    assert await balance(client, anna) == {
        "available_cents": 1000,
        "earned_cents": 2500,
        "paid_out_cents": 1500,
        "pending_payout_cents": 0,
        "currency": "usd",
        "minimum_payout_cents": 1000,
        "pending_earnings_cents": 0,
    }
    rest = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))  # the whole remaining balance
    assert (rest.status_code, rest.json()["amount_cents"]) == (201, 1000)
    assert (await balance(client, anna))["available_cents"] == 0
    await asyncio.sleep(0.1)
    events = [msgspec.json.decode(n)["event"] for n in notices]
    payout_events = [(e["data"]["payout_id"], e["data"]["status"]) for e in events if e["type"] == "creator.payout"]
    assert payout_events[:2] == [(payout["id"], "pending"), (payout["id"], "paid")]

    # The export has the payouts and the account's flags, without Stripe's ids.
    exported = await client.get("/api/v1/auth/export", headers=bearer(anna))
    assert [p["amount_cents"] for p in exported.json()["creator_payouts"]] == [1500, 1000]
    assert exported.json()["payout_account"]["payouts_enabled"] is True
    assert "acct_" not in exported.text and "tr_" not in exported.text

    # Deleting the creator deletes their payout account row and payout history here (Stripe keeps its records).
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(anna), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await db.fetchval("select count(*) from creator_payouts") == 0
    assert await db.fetchval("select count(*) from creator_payout_accounts") == 0


async def test_ten_concurrent_payout_requests_make_one_payout_and_one_transfer(setup, db) -> None:
    client, stripe, _ = setup
    anna, _ = await onboarded(client, stripe, db, earned=5000)
    answers = await asyncio.gather(*(client.post(f"{SUB}/creator/payout", headers=bearer(anna)) for _ in range(10)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 409, 422}, [a.text for a in answers]
    refusals = {a.json()["code"] for a in answers if a.status_code != 201}
    assert refusals <= {"PAYOUT_IN_PROGRESS", "PAYOUT_BELOW_MINIMUM"}
    assert len(stripe.transfers) == 1 and len(stripe.requests_to("POST", "/v1/transfers")) == 1
    assert await db.fetchval("select count(*) from creator_payouts") == 1
    assert (await balance(client, anna))["paid_out_cents"] == 5000


async def test_an_unknown_outcome_stays_pending_until_a_retry_with_the_same_key_completes_it(
    setup, db, database_url
) -> None:
    client, stripe, settings = setup
    anna, _ = await onboarded(client, stripe, db, earned=3000)
    stripe.fail_next = 3  # the client's first try and its two retries all get a 500
    pending = await client.post(f"{SUB}/creator/payout", headers=bearer(anna), json={"amount_cents": 2000})
    assert (pending.status_code, pending.json()["code"]) == (503, "PAYOUT_PENDING")
    assert pending.headers["retry-after"] == "60"
    assert (await balance(client, anna))["pending_payout_cents"] == 2000
    assert (await balance(client, anna))["available_cents"] == 1000
    again = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))  # its attempt may still be in flight
    assert (again.status_code, again.json()["code"]) == (409, "PAYOUT_IN_PROGRESS")
    payout_id = await db.fetchval("select id from creator_payouts where status = 'pending'")

    assert "0 paid" in await run_retry_job(settings, database_url)  # tried less than a minute ago: left alone
    await db.execute("update creator_payouts set last_attempt_at = now() - interval '2 minutes'")
    assert "retried payouts: 1 paid, 0 failed, 0 still pending" in await run_retry_job(settings, database_url)
    assert len(stripe.transfers) == 1
    keys = {headers["idempotency-key"] for headers, _ in stripe.requests_to("POST", "/v1/transfers")}
    assert keys == {str(payout_id)}
    assert await db.fetchval("select status from creator_payouts where id = $1", payout_id) == "paid"
    assert (await balance(client, anna))["paid_out_cents"] == 2000


async def test_a_transfer_whose_answer_was_lost_is_found_not_made_again(setup, db) -> None:
    client, stripe, _ = setup
    anna, _ = await onboarded(client, stripe, db, earned=3000)
    stripe.lose_next = 3  # Stripe makes the transfer; every answer to the client is lost
    lost = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))
    assert (lost.status_code, lost.json()["code"]) == (503, "PAYOUT_PENDING")
    assert len(stripe.transfers) == 1
    await db.execute("update creator_payouts set last_attempt_at = now() - interval '2 minutes'")
    retried = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))  # the creator tries again
    assert (retried.status_code, retried.json()["status"], retried.json()["amount_cents"]) == (201, "paid", 3000)
    assert len(stripe.transfers) == 1 and len(stripe.requests_to("GET", "/v1/transfers")) == 1
    assert await db.fetchval("select stripe_transfer_id from creator_payouts") == next(iter(stripe.transfers))


async def test_a_refused_transfer_returns_the_amount_and_a_reversal_returns_what_was_reversed(setup, db) -> None:
    client, stripe, _ = setup
    anna, _ = await onboarded(client, stripe, db, earned=3000)
    stripe.refuse_transfer = "balance_insufficient"
    refused = await client.post(f"{SUB}/creator/payout", headers=bearer(anna))
    assert (refused.status_code, refused.json()["code"]) == (502, "PAYOUT_FAILED")
    failed = await db.fetchrow("select status, failure_code from creator_payouts")
    assert (failed["status"], failed["failure_code"]) == ("failed", "balance_insufficient")
    assert (await balance(client, anna))["available_cents"] == 3000
    paid = (await client.post(f"{SUB}/creator/payout", headers=bearer(anna))).json()
    assert paid["status"] == "paid" and len(stripe.transfers) == 1

    # The platform reverses part of the transfer, then all of it; a late copy of the partial one changes nothing.
    transfer = next(iter(stripe.transfers.values()))
    partial = {**transfer, "amount_reversed": 1000}
    full = {**transfer, "amount_reversed": 3000, "reversed": True}
    payloads = [
        msgspec.json.encode({"id": f"evt_rev_{n}", "object": "event", "type": "transfer.reversed",
                             "created": int(time.time()), "livemode": False, "data": {"object": body}})
        for n, body in ((1, partial), (2, full), (3, partial))
    ]  # fmt: skip
    assert (await deliver(client, payloads[0])).json()["outcome"] == "processed"
    after_partial = await balance(client, anna)
    assert (after_partial["paid_out_cents"], after_partial["available_cents"]) == (2000, 1000)
    for payload in payloads[1:]:
        assert (await deliver(client, payload)).status_code == 200
    row = await db.fetchrow("select status, reversed_cents, reversed_by from creator_payouts where id = $1", paid["id"])
    assert (row["status"], row["reversed_cents"], row["reversed_by"]) == ("reversed", 3000, "evt_rev_2")
    assert (await balance(client, anna))["available_cents"] == 3000


async def test_signed_creator_events_whose_object_is_unreadable_are_refused_not_500(setup, db) -> None:
    """A Connect `account.updated` or a `transfer.reversed` whose object is not of Stripe's shape cannot be processed
    however often Stripe delivers it: 400 STRIPE_EVENT_INVALID (as on the payments endpoint), stored as failed."""
    client, _, _ = setup
    account = connect_event({"id": "acct_1", "payouts_enabled": "yes"}, event_id="evt_account_bad")
    refused = await deliver_connect(client, account)
    assert (refused.status_code, refused.json()["code"]) == (400, "STRIPE_EVENT_INVALID"), refused.text
    reversal = msgspec.json.encode(
        {"id": "evt_rev_bad", "object": "event", "type": "transfer.reversed", "created": int(time.time()),
         "livemode": False, "data": {"object": {"object": "transfer", "amount_reversed": "lots"}}}
    )  # fmt: skip
    refused = await deliver(client, reversal)
    assert (refused.status_code, refused.json()["code"]) == (400, "STRIPE_EVENT_INVALID"), refused.text
    stored = await db.fetch("select event_id, status from provider_events order by event_id")
    assert [(row["event_id"], row["status"]) for row in stored] == [
        ("evt_account_bad", "failed"),
        ("evt_rev_bad", "failed"),
    ]
