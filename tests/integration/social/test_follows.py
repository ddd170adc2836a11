"""Following: a toggle without a body, idempotent with one; never oneself; unknown accounts are 404; concurrent
changes leave one row per pair and counts that match; a per-account limit; newest-first lists of public fields;
follower.new reaches the followee, once a day per pair and within the follower's daily budget; account deletion
removes follows both ways; the export lists them."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.core.errors import NotFound
from app.core.ratelimit import PostgresCounters, RateLimiter, pseudonym_key
from app.db.pool import connect
from app.server import create_app
from app.settings import SocialSettings
from app.users import social
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, sign_up

USERS = "/api/v1/users"
LISTED_FIELDS = {"id", "name", "avatar_url", "is_creator", "creator_tier", "level", "is_following", "followed_at"}


def notices() -> social.FollowNotices:
    """What the follow route builds from the app's settings, for calling the service directly."""
    return social.FollowNotices.create(RateLimiter(PostgresCounters(), pseudonym_key("tests")), SocialSettings())


def follow_path(auth: dict) -> str:
    return f"{USERS}/{auth['user']['id']}/follow"


async def follow(client, who: dict, whom: dict, body: dict | None = None) -> dict:
    response = await client.post(follow_path(whom), headers=bearer(who), json=body)
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    return answer


async def follows_rows(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch("select follower_id, followee_id from follows order by created_at, follower_id")
    return [(str(r["follower_id"]), str(r["followee_id"])) for r in rows]


async def test_follow_toggles_without_a_body_and_sets_with_one(client, db: asyncpg.Connection) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    assert await follow(client, ada, bob) == {"following": True, "followers_count": 1}
    assert await follow(client, ada, bob) == {"following": False, "followers_count": 0}
    assert [await follow(client, ada, bob, {"following": True}) for _ in range(2)] == [
        {"following": True, "followers_count": 1}
    ] * 2
    assert await follows_rows(db) == [(ada["user"]["id"], bob["user"]["id"])]
    assert [await follow(client, ada, bob, {"following": False}) for _ in range(2)] == [
        {"following": False, "followers_count": 0}
    ] * 2
    assert await follow(client, ada, bob, {}) == {"following": True, "followers_count": 1}  # no preference: toggle
    assert await follow(client, bob, ada) == {"following": True, "followers_count": 1}  # the other way is its own
    assert len(await follows_rows(db)) == 2
    unknown_field = await client.post(follow_path(bob), headers=bearer(ada), json={"followed": True})
    assert unknown_field.status_code == 422
    assert unknown_field.json()["details"][0]["field"] == "followed"


async def test_nobody_follows_themselves_or_unknown_accounts(client, db: asyncpg.Connection) -> None:
    ada = await sign_up(client)
    for body in (None, {"following": True}, {"following": False}):
        response = await client.post(follow_path(ada), headers=bearer(ada), json=body)
        assert response.status_code == 422
        assert response.json()["code"] == "CANNOT_FOLLOW_SELF"
    someone = uuid.uuid4()
    for method, path in (
        ("POST", f"{USERS}/{someone}/follow"),
        ("GET", f"{USERS}/{someone}/followers"),
        ("GET", f"{USERS}/{someone}/following"),
    ):
        response = await client.request(method, path, headers=bearer(ada))
        assert response.status_code == 404, path
        assert response.json()["code"] == "USER_NOT_FOUND"
    with pytest.raises(NotFound, match="no longer exists"):  # a follower whose account is gone
        await social.set_following(db, notices(), uuid.uuid4(), uuid.UUID(ada["user"]["id"]), True)
    assert await follows_rows(db) == []
    with pytest.raises(asyncpg.CheckViolationError):  # and the table itself refuses it
        await db.execute(
            "insert into follows (follower_id, followee_id) values ($1::uuid, $1::uuid)", ada["user"]["id"]
        )


async def test_concurrent_follow_changes_stay_consistent(client, db: asyncpg.Connection) -> None:
    star = await sign_up(client, name="Star")
    fans = [await sign_up(client, name=f"Fan {n}") for n in range(4)]
    # The same fan toggling six times at once: applied one after the other, so it ends where it started.
    toggles = await asyncio.gather(*(client.post(follow_path(star), headers=bearer(fans[0])) for _ in range(6)))
    assert sorted(r.json()["following"] for r in toggles) == [False] * 3 + [True] * 3
    # The same fan setting "following" five times at once, and three more fans at once: one row per pair.
    sets = await asyncio.gather(
        *(client.post(follow_path(star), headers=bearer(fans[0]), json={"following": True}) for _ in range(5)),
        *(client.post(follow_path(star), headers=bearer(fan), json={"following": True}) for fan in fans[1:]),
    )
    assert all(r.status_code == 200 and r.json()["following"] for r in sets)
    assert sorted(await follows_rows(db)) == sorted((f["user"]["id"], star["user"]["id"]) for f in fans)
    profile = (await client.get(f"{USERS}/{star['user']['id']}", headers=bearer(fans[0]))).json()
    assert (profile["followers_count"], profile["is_following"]) == (4, True)


async def test_concurrent_toggles_on_separate_connections(client, database_url: str, db: asyncpg.Connection) -> None:
    """Truly parallel transactions (one connection each): the row lock orders one account's changes."""
    star, fan = await sign_up(client, name="Star"), await sign_up(client, name="Fan")
    star_id, fan_id = uuid.UUID(star["user"]["id"]), uuid.UUID(fan["user"]["id"])
    connections = [await connect(database_url) for _ in range(7)]
    try:
        answers = await asyncio.gather(
            *(social.set_following(c, notices(), fan_id, star_id, None) for c in connections)
        )
        wanted = await asyncio.gather(*(social.set_following(c, notices(), fan_id, star_id, True) for c in connections))
    finally:
        for conn in connections:
            await conn.close()
    assert sorted(a.following for a in answers) == [False] * 3 + [True] * 4  # seven toggles: following
    assert all(w.following and w.followers_count == 1 for w in wanted)
    assert await follows_rows(db) == [(str(fan_id), str(star_id))]


async def test_one_account_follows_at_most_the_limit(client, db: asyncpg.Connection) -> None:
    fan, star, other = [await sign_up(client, name=n) for n in ("Fan", "Star", "Other")]
    await db.execute(
        """
        with many as (
            insert into users (email, password_hash, name)
            select 'many-' || n || '@example.com', 'not-a-hash', 'Many ' || n
            from generate_series(1, $2::integer - 1) as n
            returning id
        )
        insert into follows (follower_id, followee_id) select $1::uuid, id from many
        """,
        fan["user"]["id"],
        social.MAX_FOLLOWING,
    )
    assert await follow(client, fan, star) == {"following": True, "followers_count": 1}  # the last one allowed
    refused = await client.post(follow_path(other), headers=bearer(fan))
    assert refused.status_code == 403
    assert refused.json()["code"] == "FOLLOW_LIMIT_REACHED"
    assert "5,000" in refused.json()["message"]
    assert (await follow(client, fan, star, {"following": True}))["following"] is True  # already followed: fine
    assert (await follow(client, fan, star))["following"] is False  # unfollowing is always allowed
    assert (await follow(client, fan, other))["following"] is True
    assert await db.fetchval("select count(*) from follows where follower_id = $1::uuid", fan["user"]["id"]) == 5000


async def test_lists_are_newest_first_with_public_fields(client, db: asyncpg.Connection) -> None:
    star = await sign_up(client, name="Star")
    fans = [await sign_up(client, name=f"Fan {n}") for n in range(3)]
    for fan in fans:
        await follow(client, fan, star)
    await follow(client, star, fans[1])
    await follow(client, fans[0], fans[2])
    await db.execute("insert into xp_totals (user_id, total_xp) values ($1::uuid, 1000)", fans[2]["user"]["id"])

    followers = await client.get(f"{USERS}/{star['user']['id']}/followers", headers=bearer(fans[0]))
    assert followers.status_code == 200, followers.text
    listed = followers.json()["users"]
    assert [u["name"] for u in listed] == ["Fan 2", "Fan 1", "Fan 0"]
    assert all(set(u) == LISTED_FIELDS for u in listed)
    assert [u["is_following"] for u in listed] == [True, False, False]  # as seen by Fan 0
    assert listed[0]["level"] == 5
    for fan in fans:
        assert fan["user"]["email"] not in followers.text

    page = await client.get(
        f"{USERS}/{star['user']['id']}/followers", headers=bearer(star), params={"limit": 1, "offset": 1}
    )
    assert [u["name"] for u in page.json()["users"]] == ["Fan 1"]
    following = await client.get(f"{USERS}/{fans[0]['user']['id']}/following", headers=bearer(star))
    assert [(u["name"], u["is_following"]) for u in following.json()["users"]] == [("Fan 2", False), ("Star", False)]
    theirs = await client.get(f"{USERS}/{star['user']['id']}/following", headers=bearer(fans[1]))
    assert [(u["name"], u["is_following"]) for u in theirs.json()["users"]] == [("Fan 1", False)]
    loner = await sign_up(client, name="Loner")
    for listing in ("followers", "following"):
        empty = await client.get(f"{USERS}/{loner['user']['id']}/{listing}", headers=bearer(star))
        assert empty.json() == {"users": []}
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 100_001}):
        response = await client.get(f"{USERS}/{star['user']['id']}/following", headers=bearer(star), params=params)
        assert response.status_code == 422, params
    assert (
        await client.get(f"{USERS}/{star['user']['id']}/following", headers=bearer(star), params={"limit": 100})
    ).status_code == 200


async def test_a_new_follower_is_announced_once_a_day_per_pair_and_within_the_followers_budget(
    database_url: str,
) -> None:
    """Toggling a follow announces it once, not on every follow; an account that follows many people announces
    only SOCIAL_FOLLOW_NOTICES_PER_DAY of them (2 here). Every follow itself still happens, as documented."""
    settings = make_settings(database_url, social=SocialSettings(follow_notices_per_day=2))
    async with AsyncTestClient(app=create_app(settings)) as client:
        ada, bob, cy, dan = [await sign_up(client, name=n) for n in ("Ada", "Bob", "Cy", "Dan")]
        listener = await asyncpg.connect(database_url)
        events: asyncio.Queue[dict] = asyncio.Queue()
        await listener.add_listener("cookcam_events", lambda *args: events.put_nowait(json.loads(args[-1])))
        try:
            await follow(client, ada, bob)  # announced
            await follow(client, ada, bob, {"following": True})  # already following: nothing new
            await follow(client, ada, bob)  # unfollowing: nothing
            await client.post(follow_path(ada), headers=bearer(ada))  # refused: nothing
            assert await follow(client, ada, bob) == {"following": True, "followers_count": 1}  # again: not again
            await follow(client, ada, cy)  # announced: Ada's second today
            assert await follow(client, ada, dan) == {"following": True, "followers_count": 1}  # past her budget
            await asyncio.sleep(0.2)
        finally:
            await listener.close()
    received = [events.get_nowait() for _ in range(events.qsize())]
    expected = {"type": "follower.new", "data": {"follower_id": ada["user"]["id"]}}
    assert received == [{"user_id": whom["user"]["id"], "event": expected} for whom in (bob, cy)]


async def test_account_deletion_removes_follows_both_ways(client, db: asyncpg.Connection) -> None:
    ada, bob, cy = [await sign_up(client, name=n) for n in ("Ada", "Bob", "Cy")]
    await follow(client, ada, bob)
    await follow(client, bob, ada)
    await follow(client, cy, ada)
    await follow(client, cy, bob)
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(ada), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await follows_rows(db) == [(cy["user"]["id"], bob["user"]["id"])]
    bob_profile = (await client.get(f"{USERS}/{bob['user']['id']}", headers=bearer(cy))).json()
    assert (bob_profile["followers_count"], bob_profile["following_count"]) == (1, 0)
    # Both user columns cascade from users (the user_id schema test does not see these names).
    cascading = await db.fetch(
        """
        select a.attname
        from pg_constraint k
        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any (k.conkey)
        where k.conrelid = 'follows'::regclass and k.contype = 'f' and k.confrelid = 'users'::regclass
          and k.confdeltype = 'c'
        order by a.attname
        """
    )
    assert [r["attname"] for r in cascading] == ["followee_id", "follower_id"]


async def test_the_export_lists_follows_both_ways(client) -> None:
    ada, bob, cy = [await sign_up(client, name=n) for n in ("Ada", "Bob", "Cy")]
    await follow(client, ada, bob)
    await follow(client, cy, ada)
    await follow(client, cy, bob)  # not Ada's
    response = await client.get("/api/v1/auth/export", headers=bearer(ada))
    assert response.status_code == 200
    follows = response.json()["follows"]
    assert [(f["direction"], f["user_id"]) for f in follows] == [
        ("follower", cy["user"]["id"]),
        ("following", bob["user"]["id"]),
    ]
    assert all(set(f) == {"direction", "user_id", "at"} for f in follows)
    for other in (bob, cy):
        assert other["user"]["email"] not in response.text
