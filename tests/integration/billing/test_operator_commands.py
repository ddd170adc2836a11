"""Operators' billing commands run as an operator runs them (`cookcam billing customer|grant|revoke`, a process of
their own against the test database), with their effect seen through the API the app uses."""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import uuid

import asyncpg

from app.billing import promotional
from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from tests.conftest import make_settings
from tests.e2e.test_cli import cookcam
from tests.integration.billing.test_reconcile import _run
from tests.support import bearer, sign_up

IN_A_MONTH = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)).date()


def billing(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return cookcam("billing", *args, env={"DATABASE_URL": database_url, "APP_ENV": "test"})


async def run_billing(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(billing, database_url, *args)


async def _status(client, auth: dict) -> dict:
    response = await client.get("/api/v1/subscription/status", headers=bearer(auth))
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def _is_creator(client, auth: dict) -> bool:
    response = await client.get("/api/v1/auth/me", headers=bearer(auth))
    assert response.status_code == 200, response.text
    return bool(response.json()["is_creator"])


async def test_a_grant_gives_its_tier_until_revoked_with_who_and_why_kept(client, database_url, db) -> None:
    auth = await sign_up(client)
    email = auth["user"]["email"]
    granted = await run_billing(
        database_url,
        "grant", email, "creator", "--until", IN_A_MONTH.isoformat(), "--reason", "Launch partner", "--operator", "ana",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    assert f"Granted creator to {email}" in granted.stdout
    assert "Entitlement now: creator." in granted.stdout
    status = await _status(client, auth)
    assert status["tier_slug"] == "creator"
    assert status["subscription"]["provider"] == "promotional"
    # Through that day, UTC: the grant ends at the next midnight.
    end = datetime.datetime.combine(IN_A_MONTH + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    assert datetime.datetime.fromisoformat(status["subscription"]["current_period_end"]) == end
    assert await _is_creator(client, auth)

    revoked = await run_billing(database_url, "revoke", auth["user"]["id"], "--reason", "Partnership ended")
    assert revoked.returncode == 0, revoked.stderr
    assert "Entitlement now: free." in revoked.stdout
    assert (await _status(client, auth))["tier_slug"] == "free"
    assert not await _is_creator(client, auth)

    history = await db.fetch(
        "select from_status, to_status, cause_kind, cause_ref from subscription_status_history order by id"
    )
    actions = await db.fetch("select id::text, action, operator, reason from promotional_actions order by recorded_at")
    assert [(h["from_status"], h["to_status"], h["cause_kind"]) for h in history] == [
        (None, "cancelled", "promotional"),
        ("cancelled", "revoked", "promotional"),
    ]
    assert [h["cause_ref"] for h in history] == [a["id"] for a in actions]
    operator = actions[1]["operator"]  # the operating-system user running the command, when --operator is not given
    assert [(a["action"], a["operator"], a["reason"]) for a in actions] == [
        ("grant", "ana", "Launch partner"),
        ("revoke", operator, "Partnership ended"),
    ]
    assert operator

    export = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()
    assert [(a["action"], a["operator"], a["reason"]) for a in export["promotional_actions"]] == [
        ("grant", "ana", "Launch partner"),
        ("revoke", operator, "Partnership ended"),
    ]
    assert [h["cause_kind"] for h in export["subscription_history"]] == ["promotional", "promotional"]

    again = await run_billing(database_url, "revoke", email, "--reason", "twice")
    assert again.returncode == 1
    assert again.stdout == ""
    assert "NO_PROMOTIONAL_GRANT" in again.stderr


async def test_a_grant_ends_at_its_date_without_a_job(client, db) -> None:
    # The service the command calls, in process: a grant a second long would end while a command started.
    auth = await sign_up(client)
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1.5)
    user_id = uuid.UUID(auth["user"]["id"])
    await promotional.grant(db, billing_hooks(), user_id=user_id, tier="creator", until=until, operator="t", reason="x")
    assert (await _status(client, auth))["tier_slug"] == "creator"
    assert await _is_creator(client, auth)
    await asyncio.sleep(max(0.0, (until - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.2)
    assert (await _status(client, auth))["tier_slug"] == "free"
    assert not await _is_creator(client, auth)


async def test_a_new_grant_replaces_the_one_in_force(client, database_url, db) -> None:
    auth = await sign_up(client)
    email = auth["user"]["email"]
    first = await run_billing(
        database_url, "grant", email, "creator", "--until", IN_A_MONTH.isoformat(), "--reason", "a"
    )
    assert first.returncode == 0, first.stderr
    second = await run_billing(
        database_url, "grant", email, "regular", "--until", IN_A_MONTH.isoformat(), "--reason", "downgraded"
    )
    assert second.returncode == 0, second.stderr
    assert "replaced promo_" in second.stdout
    assert (await _status(client, auth))["tier_slug"] == "regular"
    statuses = [r["status"] for r in await db.fetch("select status from subscriptions order by created_at")]
    assert statuses == ["expired", "cancelled"]


async def test_grants_are_refused_with_a_reason_on_stderr(client, database_url) -> None:
    auth = await sign_up(client)
    past = await run_billing(
        database_url, "grant", auth["user"]["email"], "creator", "--until", "2020-01-01", "--reason", "x"
    )
    assert (past.returncode, past.stdout) == (2, "")
    assert "GRANT_UNTIL_PAST" in past.stderr
    blank = await run_billing(
        database_url, "grant", auth["user"]["email"], "creator", "--until", "2999-01-01", "--reason", " "
    )
    assert (blank.returncode, blank.stdout) == (2, "")
    assert "REASON_INVALID" in blank.stderr
    nobody = await run_billing(
        database_url, "grant", "nobody@example.com", "creator", "--until", "2999-01-01", "--reason", "x"
    )
    assert (nobody.returncode, nobody.stdout) == (1, "")
    assert "ACCOUNT_NOT_FOUND" in nobody.stderr
    assert (await _status(client, auth))["tier_slug"] == "free"


async def test_a_promotional_grant_earns_no_creator_anything(client, database_url, db) -> None:
    creator, referred = await sign_up(client), await sign_up(client)
    link = await db.fetchval(
        "insert into affiliate_links (creator_id, code) values ($1, 'abcdefghjkmn') returning id",
        uuid.UUID(creator["user"]["id"]),
    )
    await db.execute(
        "insert into referral_attributions (user_id, referral_code, link_id) values ($1, 'abcdefghjkmn', $2)",
        uuid.UUID(referred["user"]["id"]),
        link,
    )
    granted = await run_billing(
        database_url, "grant", referred["user"]["email"], "creator", "--until", IN_A_MONTH.isoformat(), "--reason", "x"
    )
    assert granted.returncode == 0, granted.stderr
    assert (await _status(client, referred))["tier_slug"] == "creator"
    assert await db.fetchval("select count(*) from creator_earnings") == 0
    assert await db.fetchval("select active_referrals from affiliate_links where id = $1", link) == 0


async def test_reconciliation_has_no_provider_to_ask_about_a_grant(client, database_url) -> None:
    auth = await sign_up(client)
    granted = await run_billing(
        database_url, "grant", auth["user"]["id"], "regular", "--until", IN_A_MONTH.isoformat(), "--reason", "x"
    )
    assert granted.returncode == 0, granted.stderr
    assert "reconciled 0 subscription(s): 0 drifted and fixed, 0 error(s), 0 skipped" in await _run(
        make_settings(database_url), database_url
    )


async def _stripe_subscriber(client, db: asyncpg.Connection) -> tuple[dict, uuid.UUID]:
    auth = await sign_up(client)
    user_id = uuid.UUID(auth["user"]["id"])
    await db.execute("insert into stripe_customers (user_id, customer_id) values ($1, 'cus_support')", user_id)
    now = datetime.datetime.now(datetime.UTC)
    state = ProviderState(
        user_id=user_id,
        provider="stripe",
        provider_subscription_id="sub_support",
        tier_slug="regular",
        status="active",
        billing_period="monthly",
        current_period_start=now,
        current_period_end=now + datetime.timedelta(days=30),
        provider_updated_at=now,
    )
    await record_subscription_state(db, state, Cause("stripe_event", "evt_created"), billing_hooks())
    created = {"data": {"object": {"id": "sub_support"}}}
    failed = {"data": {"object": {"customer": "cus_support", "subscription": "sub_support"}}}
    other = {"data": {"object": {"customer": "cus_someone_else"}}}
    events = [
        ("evt_created", "customer.subscription.created", "processed", None, created),
        ("evt_failed", "invoice.payment_failed", "failed", "StripeError: down", failed),
        ("evt_other", "invoice.paid", "processed", None, other),
    ]
    for event_id, event_type, status, error, payload in events:
        await db.execute(
            "insert into provider_events (provider, event_id, event_type, status, attempts, payload, error) "
            "values ('stripe', $1, $2, $3, 1, $4::jsonb, $5)",
            event_id,
            event_type,
            status,
            payload,  # the connection's jsonb codec encodes it
            error,
        )
    await db.execute(
        "insert into creator_payouts (id, creator_id, stripe_account_id, amount_cents, currency, status, "
        "stripe_transfer_id, settled_at) values ($1, $2, 'acct_1', 1234, 'usd', 'paid', 'tr_support', now())",
        uuid.uuid4(),
        user_id,
    )
    await db.execute(
        "insert into creator_earnings (creator_id, provider, period_start, kind, amount_cents, net_cents, "
        "share_percent, currency, period_key, payable_at) "
        "values ($1, 'apple', now(), 'earning', 254, 849, 30, 'usd', 'k1', now())",
        user_id,
    )
    return auth, user_id


async def test_the_customer_view_finds_the_account_by_any_of_its_ids(client, database_url, db) -> None:
    auth, user_id = await _stripe_subscriber(client, db)
    for needle in (auth["user"]["email"].upper(), str(user_id), "cus_support", "sub_support"):
        found = await run_billing(database_url, "customer", needle, "--json")
        assert found.returncode == 0, found.stderr
        view = json.loads(found.stdout)
        assert view["account"]["id"] == str(user_id)
    assert list(view) == [
        "account",
        "entitlement",
        "stripe_customer_id",
        "subscriptions",
        "promotional_actions",
        "subscription_transfers",
        "provider_events",
        "earnings",
        "payouts",
    ]
    assert view["entitlement"]["tier"] == "regular"
    assert (view["entitlement"]["provider"], view["entitlement"]["status"]) == ("stripe", "active")
    assert view["stripe_customer_id"] == "cus_support"
    (subscription,) = view["subscriptions"]
    assert (subscription["provider"], subscription["provider_subscription_id"]) == ("stripe", "sub_support")
    assert [(h["to_status"], h["cause_kind"], h["cause_ref"]) for h in subscription["history"]] == [
        ("active", "stripe_event", "evt_created")
    ]
    # The event its history names and the one naming its customer; never another customer's.
    outcomes = {e["event_id"]: (e["status"], e["error"]) for e in view["provider_events"]}
    assert outcomes == {"evt_created": ("processed", None), "evt_failed": ("failed", "StripeError: down")}
    assert [(p["amount_cents"], p["stripe_transfer_id"]) for p in view["payouts"]] == [(1234, "tr_support")]
    assert [(e["kind"], e["amount_cents"]) for e in view["earnings"]] == [("earning", 254)]

    text = await run_billing(database_url, "customer", "sub_support")
    assert text.returncode == 0, text.stderr
    assert f"Account: {auth['user']['email']} ({user_id})" in text.stdout
    assert "Entitlement: regular from stripe subscription" in text.stdout
    assert "evt_failed" in text.stdout and "StripeError: down" in text.stdout
    assert "tr_support" in text.stdout
    assert "evt_other" not in text.stdout


async def test_an_unknown_customer_exits_1_with_the_message_on_stderr(database_url) -> None:
    missing = await run_billing(database_url, "customer", "sub_nobody", "--json")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "ACCOUNT_NOT_FOUND: No account matches 'sub_nobody'" in missing.stderr
