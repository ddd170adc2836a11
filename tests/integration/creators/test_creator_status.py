"""is_creator and creator_tier: derived from the account's own subscriptions (any provider) and from the live
subscriptions of the accounts it referred; the same in /auth/me, /users/profile, public profiles, search, follow lists
and leaderboards; never settable by the client; kept right by triggers whoever writes (docs/creators.md)."""

from __future__ import annotations

import asyncio
import datetime
import random
import secrets
import uuid

import asyncpg
import pytest

from app.billing.entitlements import record_subscription_state
from app.creators.billing_hooks import billing_hooks
from app.db.pool import connect
from tests.integration.creators.test_creators import CAUSE, state
from tests.support import bearer, sign_up

ME = "/api/v1/auth/me"
CODE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


async def _status(client, auth: dict) -> tuple[bool, int | None]:
    me = (await client.get(ME, headers=bearer(auth))).json()
    return me["is_creator"], me["creator_tier"]


async def _subscribe(db: asyncpg.Connection, auth: dict, **overrides: object) -> None:
    overrides.setdefault("provider_subscription_id", f"sub_{uuid.uuid4().hex}")
    await record_subscription_state(db, state(auth["user"]["id"], **overrides), CAUSE, billing_hooks())


async def test_a_paying_creator_reads_as_one_everywhere_and_a_pro_subscriber_does_not(client, db) -> None:
    name = f"Creator {uuid.uuid4().hex[:10]}"
    anna = await sign_up(client, name=name)
    pro = await sign_up(client)
    viewer = await sign_up(client)
    assert await _status(client, anna) == (False, None)
    await _subscribe(db, anna, tier_slug="creator", provider="apple")
    await _subscribe(db, pro, tier_slug="regular")
    for auth in (anna, viewer, pro):
        await client.post("/api/v1/gamification/add-xp", headers=bearer(auth), json={"action": "daily_check_in"})
    await client.post(f"/api/v1/users/{anna['user']['id']}/follow", headers=bearer(viewer))

    assert await _status(client, anna) == (True, 1)
    assert await _status(client, pro) == (False, None)
    profile = (await client.get("/api/v1/users/profile", headers=bearer(anna))).json()
    public = (await client.get(f"/api/v1/users/{anna['user']['id']}", headers=bearer(viewer))).json()
    found = (await client.get("/api/v1/users", params={"search": name}, headers=bearer(viewer))).json()["users"]
    following = (await client.get(f"/api/v1/users/{viewer['user']['id']}/following", headers=bearer(viewer))).json()
    board = (
        await client.get("/api/v1/gamification/leaderboard", params={"period": "allTime"}, headers=bearer(anna))
    ).json()
    entries = {entry["user_id"]: entry for entry in board["leaderboard"]}
    for body in (profile, public, found[0], following["users"][0], entries[anna["user"]["id"]], board["caller"]):
        assert (body["is_creator"], body["creator_tier"]) == (True, 1), body
    assert (entries[pro["user"]["id"]]["is_creator"], entries[pro["user"]["id"]]["creator_tier"]) == (False, None)

    # The client cannot set either (unknown fields are refused, nothing changes).
    refused = await client.put("/api/v1/auth/profile", headers=bearer(pro), json={"is_creator": True})
    assert (refused.status_code, refused.json()["code"]) == (422, "VALIDATION_ERROR")
    assert await _status(client, pro) == (False, None)


async def test_a_cancelled_creator_stays_one_until_the_paid_period_ends_without_any_job(client, db) -> None:
    anna = await sign_up(client)
    ends = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1.5)
    await _subscribe(db, anna, tier_slug="creator", status="cancelled", current_period_end=ends)
    assert await _status(client, anna) == (True, 1)
    await asyncio.sleep(max(0.0, (ends - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.2)
    assert await _status(client, anna) == (False, None)


async def test_losing_the_creator_subscription_ends_creator_status_at_once(client, db) -> None:
    anna = await sign_up(client)
    await _subscribe(db, anna, tier_slug="creator", provider_subscription_id="sub_anna")
    assert await _status(client, anna) == (True, 1)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    await _subscribe(
        db, anna, tier_slug="creator", provider_subscription_id="sub_anna", status="revoked", provider_updated_at=later
    )
    assert await _status(client, anna) == (False, None)


@pytest.mark.parametrize(
    ("referred", "tier"),
    [(0, 1), (99, 1), (100, 2), (999, 2), (1_000, 3), (9_999, 3), (10_000, 4), (99_999, 4), (100_000, 5)],
)
async def test_the_tier_follows_the_documented_thresholds(client, db, referred: int, tier: int) -> None:
    anna = await sign_up(client)
    await _subscribe(db, anna, tier_slug="creator")
    # Two links: a creator's count is the sum over all of them.
    for share in (referred // 2, referred - referred // 2):
        await db.execute(
            "insert into affiliate_links (creator_id, code, active_referrals) values ($1, $2, $3)",
            uuid.UUID(anna["user"]["id"]),
            _code(),
            share,
        )
    assert await _status(client, anna) == (True, tier)


def _code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


async def _new_user(db: asyncpg.Connection) -> uuid.UUID:
    email = f"{uuid.uuid4().hex}@example.com"
    return await db.fetchval("insert into users (email, password_hash, name) values ($1, 'x', 'U') returning id", email)


WRITES = ["subscribe", "status", "environment", "unsubscribe", "attribute", "move", "erase"]
COUNTED = (
    "select l.id, l.active_referrals, (select count(*) from referral_attributions a"
    " join subscriptions s on s.user_id = a.user_id"
    " where a.link_id = l.id and s.status in ('active', 'grace_period') and s.environment = 'production')::int"
    " from affiliate_links l"
)


async def test_link_counts_equal_a_recount_after_every_kind_of_write(db) -> None:
    """300 random writes of every kind the triggers follow (new, changed and deleted subscriptions, attributions made
    and moved, referred accounts, links and creators deleted): after each, every link's count equals a recount."""
    rng = random.Random(12)
    creators = [await _new_user(db) for _ in range(3)]
    links = [
        await db.fetchval(
            "insert into affiliate_links (creator_id, code) values ($1, $2) returning id", creator, _code()
        )
        for creator in creators
        for _ in range(2)
    ]
    referred = [await _new_user(db) for _ in range(12)]
    statuses = ["trialing", "active", "grace_period", "billing_retry", "cancelled", "expired", "revoked"]

    async def write(step: int) -> str:
        kind = rng.choice([*WRITES * 3, "drop_link", "drop_creator"])
        live_links = [row["id"] for row in await db.fetch("select id from affiliate_links")]
        users = [row["id"] for row in await db.fetch("select id from users where id = any($1)", referred)]
        subscriptions = [row["id"] for row in await db.fetch("select id from subscriptions")]
        if kind == "subscribe" and users:
            await db.execute(
                "insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status,"
                " environment, provider_updated_at) values ($1, $2, $3, $4, $5, $6, now())",
                rng.choice(users),
                rng.choice(["stripe", "apple", "google"]),
                f"sub_{step}",
                rng.choice(["regular", "creator"]),
                rng.choice(statuses),
                rng.choice(["production", "production", "sandbox"]),
            )
        elif kind == "status" and subscriptions:
            await db.execute(
                "update subscriptions set status = $2 where id = $1", rng.choice(subscriptions), rng.choice(statuses)
            )
        elif kind == "environment" and subscriptions:
            await db.execute(
                "update subscriptions set environment = case environment when 'sandbox' then 'production'"
                " else 'sandbox' end where id = $1",
                rng.choice(subscriptions),
            )
        elif kind == "unsubscribe" and subscriptions:
            await db.execute("delete from subscriptions where id = $1", rng.choice(subscriptions))
        elif kind == "attribute" and users and live_links:
            await db.execute(
                "insert into referral_attributions (user_id, referral_code, link_id) values ($1, 'code', $2)"
                " on conflict (user_id) do nothing",
                rng.choice(users),
                rng.choice(live_links),
            )
        elif kind == "move" and live_links:
            await db.execute(
                "update referral_attributions set link_id = $1 where user_id = "
                "(select user_id from referral_attributions order by user_id limit 1 offset $2)",
                rng.choice([*live_links, None]),
                rng.randrange(12),
            )
        elif kind == "erase" and users:
            await db.execute("delete from users where id = $1", rng.choice(users))
        elif kind == "drop_link" and live_links:
            await db.execute("delete from affiliate_links where id = $1", rng.choice(live_links))
        elif kind == "drop_creator":
            await db.execute("delete from users where id = $1", rng.choice(creators))
        return kind

    done: list[str] = []
    for step in range(300):
        done.append(await write(step))
        for link, kept, recounted in await db.fetch(COUNTED):
            assert kept == recounted, f"link {link} after step {step} ({done[-1]}): kept {kept}, recount {recounted}"
    assert set(WRITES) <= set(done)
    assert len(links) == 6


async def test_an_attribution_and_a_subscription_change_racing_are_both_counted(db, database_url: str) -> None:
    """Each trigger locks the referred account first, so the second one sees what the first committed."""
    creator = await _new_user(db)
    link = await db.fetchval(
        "insert into affiliate_links (creator_id, code) values ($1, $2) returning id", creator, _code()
    )
    for attribution_first in (True, False):
        cook = await _new_user(db)
        subscription = await db.fetchval(
            "insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status,"
            " provider_updated_at) values ($1, 'stripe', $2, 'regular', 'trialing', now()) returning id",
            cook,
            f"sub_{cook.hex}",
        )
        attribute = "insert into referral_attributions (user_id, referral_code, link_id) values ($1, 'code', $2)"
        activate = "update subscriptions set status = 'active' where id = $1"
        first, second = await connect(database_url), await connect(database_url)
        try:
            first_tx, second_tx = first.transaction(), second.transaction()
            await first_tx.start()
            await second_tx.start()
            if attribution_first:
                await first.execute(attribute, cook, link)
                waiting = asyncio.ensure_future(second.execute(activate, subscription))
            else:
                await first.execute(activate, subscription)
                waiting = asyncio.ensure_future(second.execute(attribute, cook, link))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the second trigger waits for the account's lock
            await first_tx.commit()
            await waiting
            await second_tx.commit()
        finally:
            await first.close()
            await second.close()
        expected = 1 if attribution_first else 2
        assert await db.fetchval("select active_referrals from affiliate_links where id = $1", link) == expected


async def test_erasing_a_referred_account_or_a_link_takes_its_live_subscriptions_off_the_count(db) -> None:
    creator = await _new_user(db)
    link = await db.fetchval(
        "insert into affiliate_links (creator_id, code) values ($1, $2) returning id", creator, _code()
    )
    other_link = await db.fetchval(
        "insert into affiliate_links (creator_id, code) values ($1, $2) returning id", creator, _code()
    )
    cooks = [await _new_user(db) for _ in range(3)]
    for number, cook in enumerate(cooks):
        await db.execute(
            "insert into referral_attributions (user_id, referral_code, link_id) values ($1, 'code', $2)",
            cook,
            link if number < 2 else other_link,
        )
        for provider in ("stripe", "apple"):
            await db.execute(
                "insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status,"
                " provider_updated_at) values ($1, $2, $3, 'regular', 'active', now())",
                cook,
                provider,
                f"sub_{cook.hex}",
            )
    counts = "select array_agg(active_referrals order by id = $1 desc) from affiliate_links where creator_id = $2"
    assert await db.fetchval(counts, link, creator) == [4, 2]
    await db.execute("delete from users where id = $1", cooks[0])
    assert await db.fetchval(counts, link, creator) == [2, 2]
    # The creator's link goes: its referred accounts' attributions lose their link and no other count moves.
    await db.execute("delete from affiliate_links where id = $1", link)
    assert await db.fetchval(counts, link, creator) == [2]
    await db.execute("update referral_attributions set link_id = $1 where user_id = $2", other_link, cooks[1])
    assert await db.fetchval(counts, link, creator) == [4]
