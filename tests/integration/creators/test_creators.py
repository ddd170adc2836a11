"""Creators: links (CSPRNG codes, custom slugs, limits), de-duplicated clicks, attribution (first valid wins, no
self-referral), and the revenue share across Stripe, the App Store and Google Play: one earning per paid period
whoever reports it, reversed on revocation, kept (anonymised) when the referred account is deleted."""

from __future__ import annotations

import asyncio
import datetime
import re
import time
import uuid

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from app.creators.links import CODE_LENGTH, track_click, visitor_key
from app.server import create_app
from app.settings import CreatorSettings
from tests.conftest import make_settings
from tests.integration.billing.stripe_support import deliver
from tests.integration.billing.test_stripe_webhook import subscription_event
from tests.support import PASSWORD, bearer, sign_up

SUB = "/api/v1/subscription"
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
CAUSE = Cause("test", "creators")


def state(user_id: str, **overrides: object) -> ProviderState:
    fields: dict[str, object] = {
        "user_id": user_id,
        "provider": "stripe",
        "provider_subscription_id": f"sub_{user_id[:8]}",
        "tier_slug": "regular",
        "status": "active",
        "billing_period": "monthly",
        "current_period_start": NOW,
        "current_period_end": NOW + datetime.timedelta(days=30),
        "provider_updated_at": NOW,
    }
    fields.update(overrides)
    return msgspec.convert(fields, ProviderState)


async def creator(client, db: asyncpg.Connection) -> dict:
    auth = await sign_up(client)
    active = state(auth["user"]["id"], tier_slug="creator", provider_subscription_id=f"sub_creator_{uuid.uuid4().hex}")
    await record_subscription_state(db, active, CAUSE, billing_hooks())
    return auth


async def test_links_are_for_creators_with_random_codes_and_unique_slugs(client, db) -> None:
    plain = await sign_up(client)
    refused = await client.post(f"{SUB}/affiliate/generate", headers=bearer(plain))
    assert (refused.status_code, refused.json()["code"]) == (403, "CREATOR_REQUIRED")
    assert (await client.post(f"{SUB}/affiliate/generate")).status_code == 401
    anna = await creator(client, db)
    first = await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna))
    assert first.status_code == 201, first.text
    assert re.fullmatch(rf"[0-9a-hjkmnp-tv-z]{{{CODE_LENGTH}}}", first.json()["code"])
    slugged = await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "Chef-Anna"})
    assert slugged.json()["custom_slug"] == "chef-anna"
    other = await creator(client, db)
    for body, expected in (
        ({"custom_slug": "chef-anna"}, (409, "AFFILIATE_SLUG_TAKEN")),
        ({"custom_slug": first.json()["code"]}, (409, "AFFILIATE_SLUG_TAKEN")),
        ({"custom_slug": "admin"}, (422, "AFFILIATE_SLUG_RESERVED")),
        ({"custom_slug": "x"}, (422, "VALIDATION_ERROR")),
        ({"custom_slug": "no_underscores"}, (422, "VALIDATION_ERROR")),
        ({"code": "mine"}, (422, "VALIDATION_ERROR")),
    ):
        response = await client.post(f"{SUB}/affiliate/generate", headers=bearer(other), json=body)
        assert (response.status_code, response.json()["code"]) == expected, body
    # The limit (3 here) holds under concurrency: one place left, five parallel requests, one link.
    await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna))
    parallel = await asyncio.gather(
        *(client.post(f"{SUB}/affiliate/generate", headers=bearer(other)) for _ in range(5))
    )
    assert sorted(r.status_code for r in parallel) == [201, 201, 201, 403, 403]
    listed = (await client.get(f"{SUB}/affiliate/links", headers=bearer(anna))).json()["links"]
    assert len(listed) == 3 and listed[1]["custom_slug"] == "chef-anna"


async def test_clicks_count_once_a_day_per_visitor(client, db) -> None:
    """A visitor is its address: rotating the User-Agent does not make a new unique click."""
    anna = await creator(client, db)
    link = (await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})).json()
    answers = [
        (await client.post(f"{SUB}/affiliate/track/{key}", headers={"User-Agent": agent})).json()
        for key, agent in ((link["code"], "CookCam/3.1 iOS"), ("ANNA", "CookCam/3.1 iOS"), ("anna", "Firefox/1"))
    ]
    assert [a["first_today"] for a in answers] == [True, False, False]
    unknown = (await client.post(f"{SUB}/affiliate/track/nope")).json()
    assert unknown == {"tracked": False, "first_today": False}
    listed = (await client.get(f"{SUB}/affiliate/links", headers=bearer(anna))).json()["links"][0]
    assert (listed["clicks"], listed["unique_clicks"]) == (3, 1)
    assert await db.fetchval("select count(*) from affiliate_clicks where length(visitor) = 32") == 1


async def test_a_visitor_is_an_ipv4_address_or_an_ipv6_slash_64(client, db) -> None:
    anna = await creator(client, db)
    await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
    key = visitor_key("tests")
    visits = [
        ("203.0.113.7", True),
        ("203.0.113.8", True),  # another IPv4 address: another visitor
        ("::ffff:203.0.113.8", False),  # the same IPv4 client, seen through an IPv6 socket
        ("2001:db8:1:2::1", True),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", False),  # the same /64: the rest rotates for free
        ("2001:db8:1:3::1", True),  # the next /64
    ]
    for address, first in visits:
        tracked = await track_click(db, key, "anna", client_address=address, now=NOW)
        assert (tracked.tracked, tracked.first_today) == (True, first), address
    assert await db.fetchval("select count(*) from affiliate_clicks") == 4


async def test_attribution_first_valid_wins_and_nobody_refers_themselves(client, db) -> None:
    anna, ben = await creator(client, db), await creator(client, db)
    anna_link = await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
    ben_link = (await client.post(f"{SUB}/affiliate/generate", headers=bearer(ben))).json()
    cook = await sign_up(client)

    async def link(who: dict, code: str) -> tuple[int, object]:
        response = await client.post("/api/v1/auth/link-referral", headers=bearer(who), json={"referral_code": code})
        return response.status_code, response.json().get("code", response.json().get("linked"))

    assert await link(cook, "nobody-here") == (422, "REFERRAL_CODE_UNKNOWN")
    assert await link(cook, "Anna") == (200, True)
    assert await link(cook, anna_link.json()["code"]) == (200, True)  # the same link by its code
    assert await link(cook, ben_link["code"]) == (409, "REFERRAL_ALREADY_LINKED")
    assert await link(anna, "anna") == (422, "SELF_REFERRAL")
    listed = (await client.get(f"{SUB}/affiliate/links", headers=bearer(anna))).json()["links"][0]
    assert listed["signups"] == 1


async def test_paid_periods_earn_once_per_provider_and_revocations_reverse(client, db) -> None:
    anna = await creator(client, db)
    await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
    cooks = [await sign_up(client) for _ in range(3)]
    for cook in cooks:
        await client.post("/api/v1/auth/link-referral", headers=bearer(cook), json={"referral_code": "anna"})
    stripe_cook, apple_cook, google_cook = (c["user"]["id"] for c in cooks)
    # Periods count from the attribution on: these begin after it.
    start = datetime.datetime.now(datetime.UTC)
    period = {"current_period_start": start, "current_period_end": start + datetime.timedelta(days=30)}
    trial = state(
        stripe_cook,
        status="trialing",
        trial_ends_at=start + datetime.timedelta(days=7),
        provider_updated_at=start,
        **period,
    )
    await record_subscription_state(db, trial, CAUSE, billing_hooks())
    assert await db.fetchval("select count(*) from creator_earnings") == 0  # a trial earns nothing
    paid = state(stripe_cook, provider_updated_at=start + datetime.timedelta(seconds=1), **period)
    for _ in range(2):  # reported twice (webhook and reconciliation): earned once
        await record_subscription_state(db, paid, CAUSE, billing_hooks())
    second_start = start + datetime.timedelta(days=30)
    renewed = state(
        stripe_cook,
        current_period_start=second_start,
        current_period_end=second_start + datetime.timedelta(days=30),
        provider_updated_at=second_start,
    )
    await record_subscription_state(db, renewed, CAUSE, billing_hooks())
    apple = state(
        apple_cook,
        provider="apple",
        provider_subscription_id="2000000001",
        billing_period="yearly",
        tier_slug="regular",
        **period,
    )
    google = state(google_cook, provider="google", provider_subscription_id="gpa.1234", tier_slug="creator", **period)
    await record_subscription_state(db, apple, CAUSE, billing_hooks())
    await record_subscription_state(db, google, CAUSE, billing_hooks())
    # Stripe regular monthly 399 less 3 % = 387, 30 % = 116 (twice); App Store regular yearly 3990 less 15 % = 3391,
    # 30 % = 1017; Google Play creator monthly 999 less 15 % = 849, 30 % = 254.
    rows = await db.fetch("select provider, amount_cents from creator_earnings order by created_at, provider")
    assert sorted((r["provider"], r["amount_cents"]) for r in rows) == [
        ("apple", 1017),
        ("google", 254),
        ("stripe", 116),
        ("stripe", 116),
    ]
    revoked = msgspec.structs.replace(
        renewed, status="revoked", provider_updated_at=second_start + datetime.timedelta(1)
    )
    await record_subscription_state(db, revoked, CAUSE, billing_hooks())
    await record_subscription_state(db, revoked, CAUSE, billing_hooks())
    balance = (await client.get(f"{SUB}/creator/balance", headers=bearer(anna))).json()
    # Earned, and held for the providers' refund windows: nothing is available to pay out yet.
    assert (balance["earned_cents"], balance["pending_earnings_cents"]) == (116 + 1017 + 254, 116 + 1017 + 254)
    assert balance["available_cents"] == 0 and balance["minimum_payout_cents"] == 1000
    revenue = (await client.get(f"{SUB}/creator/revenue", headers=bearer(anna))).json()
    assert [e["kind"] for e in revenue["earnings"]].count("reversal") == 1 and revenue["reversed_cents"] == -116
    analytics = (await client.get(f"{SUB}/creator/analytics", headers=bearer(anna))).json()
    assert (analytics["signups"], analytics["conversions"], analytics["revenue_cents"]) == (3, 4, 1387)
    assert (await client.get(f"{SUB}/creator/balance", headers=bearer(cooks[0]))).status_code == 403

    # The referred account's deletion keeps the creator's money, anonymised.
    await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(cooks[1]), json={"confirm_password": PASSWORD}
    )
    kept = await db.fetchrow("select referred_user_id, amount_cents from creator_earnings where provider = 'apple'")
    assert (kept["referred_user_id"], kept["amount_cents"]) == (None, 1017)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("update creator_earnings set amount_cents = 99999 where provider = 'apple'")
    exported = (await client.get("/api/v1/auth/export", headers=bearer(anna))).json()
    assert len(exported["affiliate_links"]) == 1 and len(exported["creator_earnings"]) == 5


async def test_a_signed_stripe_event_for_a_referred_account_earns(client, db) -> None:
    anna = await creator(client, db)
    await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
    cook = await sign_up(client)
    await client.post("/api/v1/auth/link-referral", headers=bearer(cook), json={"referral_code": "anna"})
    # A live-mode subscription (one made with test keys never earns: test_earning_rules.py) whose period begins
    # after the attribution (an earlier one would not earn either).
    start = int(time.time()) + 1
    paid = subscription_event(
        cook["user"]["id"],
        status="active",
        created=int(time.time()),
        trial_end=None,
        livemode=True,
        current_period_start=start,
        current_period_end=start + 30 * 86400,
    )
    assert (await deliver(client, paid)).json()["outcome"] == "processed"
    earning = await db.fetchrow("select creator_id, amount_cents from creator_earnings")
    assert (str(earning["creator_id"]), earning["amount_cents"]) == (anna["user"]["id"], 290)  # creator 999 -3 % 30 %


async def test_the_click_limit_is_a_setting(database_url, db) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url), creators=CreatorSettings(clicks_per_address_per_minute=3)
    )
    async with AsyncTestClient(app=create_app(settings)) as limited:
        anna = await creator(limited, db)
        await limited.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
        statuses = [(await limited.post(f"{SUB}/affiliate/track/anna")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert await db.fetchval("select sum(clicks) from affiliate_clicks") == 3


async def test_click_tracking_is_limited_per_address(client, db) -> None:
    anna = await creator(client, db)
    await client.post(f"{SUB}/affiliate/generate", headers=bearer(anna), json={"custom_slug": "anna"})
    statuses = [(await client.post(f"{SUB}/affiliate/track/anna")).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60
    refused = await client.post(f"{SUB}/affiliate/track/anna")
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED") and "retry-after" in refused.headers
    assert statuses[60] == 429
    clicks = await db.fetchval("select sum(clicks) from affiliate_clicks")
    assert clicks == 60  # refused clicks are not counted
