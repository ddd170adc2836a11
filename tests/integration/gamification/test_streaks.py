"""Streaks against the database: cooking days in the user's time zone, milestones awarding XP once per streak and
freeze tokens, a token spent automatically for one missed day, breaks, and the HTTP routes (profile time zone,
check-streak, progress)."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import pytest

from app.gamification import streaks
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import bearer, sign_up

START = datetime.datetime(2026, 11, 2, 18, 0, tzinfo=datetime.UTC)  # 07:00 the next day in Auckland


async def new_user(db: asyncpg.Connection, time_zone: str = "UTC") -> uuid.UUID:
    user_id: uuid.UUID = await db.fetchval(
        "insert into users (email, password_hash, name, time_zone) values ($1, 'x', 'S', $2) returning id",
        f"{uuid.uuid4()}@t.io",
        time_zone,
    )
    return user_id


async def cook(db: asyncpg.Connection, user_id: uuid.UUID, days: int) -> streaks.StreakStatus:
    async with db.transaction():
        return await streaks.record_cooking(db, user_id, START + datetime.timedelta(days=days))


async def check(db: asyncpg.Connection, user_id: uuid.UUID, days: int) -> streaks.StreakStatus:
    return await streaks.check(db, user_id, START + datetime.timedelta(days=days))


async def xp_of(db: asyncpg.Connection, user_id: uuid.UUID) -> list[tuple[str, int]]:
    rows = await db.fetch("select action, amount from xp_ledger where user_id = $1 order by id", user_id)
    return [(row["action"], row["amount"]) for row in rows]


async def test_a_week_of_cooking_reaches_milestones_and_earns_a_freeze(db: asyncpg.Connection) -> None:
    user = await new_user(db)
    statuses = [await cook(db, user, n) for n in range(7)]
    assert [s.current_streak for s in statuses] == [1, 2, 3, 4, 5, 6, 7]
    assert statuses[-1].freeze_tokens == 1 and statuses[-1].extended_today
    assert await xp_of(db, user) == [("streak_3", 30), ("streak_7", 100)]
    assert (await cook(db, user, 6)).current_streak == 7  # twice the same day
    # Day 7 missed: on day 8 the token covers it, and cooking continues the streak.
    frozen = await check(db, user, 8)
    assert (frozen.current_streak, frozen.freeze_tokens, frozen.extended_today) == (7, 0, False)
    assert (await cook(db, user, 8)).current_streak == 8
    assert await db.fetchval("select freezes_used from streaks where user_id = $1", user) == 1
    # Days 9 and 10 missed with no token: broken, the longest kept; a new streak earns its milestones again.
    broken = await check(db, user, 11)
    assert (broken.current_streak, broken.longest_streak) == (0, 8)
    for n in (11, 12, 13):
        await cook(db, user, n)
    assert await xp_of(db, user) == [("streak_3", 30), ("streak_7", 100), ("streak_3", 30)]


async def test_days_are_the_users_own(db: asyncpg.Connection) -> None:
    # 18:00 UTC is 07:00 the next day in Auckland and 10:00 the same day in Los Angeles; cooking at 18:00 and
    # 09:00 UTC the next day is one day apart in Los Angeles (10:00 -> 01:00) but the same day in Auckland.
    auckland, los_angeles = await new_user(db, "Pacific/Auckland"), await new_user(db, "America/Los_Angeles")
    later = START + datetime.timedelta(hours=15)
    for user in (auckland, los_angeles):
        async with db.transaction():
            await streaks.record_cooking(db, user, START)
        async with db.transaction():
            await streaks.record_cooking(db, user, later)
    assert (await streaks.check(db, auckland, later)).current_streak == 1
    assert (await streaks.check(db, los_angeles, later)).current_streak == 2


async def test_cooking_claims_drive_the_streak_over_http(client, db: asyncpg.Connection) -> None:
    await load_ingredients(db, read_catalog())
    await load_recipes(db, read_recipes())
    recipe = str(await db.fetchval("select id from recipes where user_id is null order by slug limit 1"))
    auth = await sign_up(client)
    profile = "/api/v1/auth/profile"
    assert (await client.put(profile, headers=bearer(auth), json={"time_zone": "Mars/Olympus"})).json()["code"] == (
        "TIME_ZONE_UNKNOWN"
    )
    bad = await client.put(profile, headers=bearer(auth), json={"time_zone": "../../etc/passwd"})
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")
    updated = await client.put(profile, headers=bearer(auth), json={"time_zone": "Europe/Paris"})
    assert updated.json()["time_zone"] == "Europe/Paris"

    fresh = (await client.post("/api/v1/gamification/check-streak", headers=bearer(auth))).json()
    assert fresh == {"current_streak": 0, "longest_streak": 0, "freeze_tokens": 0, "extended_today": False}
    claim = {"action": "recipe_cooked", "metadata": {"recipe_id": recipe}}
    assert (await client.post("/api/v1/gamification/add-xp", headers=bearer(auth), json=claim)).status_code == 200
    status = (await client.post("/api/v1/gamification/check-streak", headers=bearer(auth))).json()
    assert status == {"current_streak": 1, "longest_streak": 1, "freeze_tokens": 0, "extended_today": True}
    assert (await client.get("/api/v1/gamification/progress", headers=bearer(auth))).json()["streak_days"] == 1
    # Other claims do not count as cooking.
    other = await sign_up(client)
    await client.post("/api/v1/gamification/add-xp", headers=bearer(other), json={"action": "daily_check_in"})
    assert (await client.post("/api/v1/gamification/check-streak", headers=bearer(other))).json()["current_streak"] == 0
    assert (await client.post("/api/v1/gamification/check-streak")).status_code == 401


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"])
async def test_the_check_only_writes_when_something_changed(db: asyncpg.Connection, time_zone: str) -> None:
    user = await new_user(db, time_zone)
    await cook(db, user, 0)
    stamp = await db.fetchval("select updated_at from streaks where user_id = $1", user)
    await check(db, user, 1)
    assert await db.fetchval("select updated_at from streaks where user_id = $1", user) == stamp
