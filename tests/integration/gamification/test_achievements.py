"""Achievements are the server's: unlocked in the transaction of the action that reaches them, once per user (also
under concurrency), each worth achievement_unlocked XP and an achievement.unlocked event; the catalogue lists the
caller's progress; exported and erased with the account."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import msgspec
import pytest

from app.db.queries.gamification import AchievementMetricsRow
from app.gamification import achievements, streaks
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import PASSWORD, bearer, sign_up

ACHIEVEMENTS = "/api/v1/gamification/achievements"
ADD_XP = "/api/v1/gamification/add-xp"


@pytest.fixture
async def recipes(db: asyncpg.Connection) -> list[asyncpg.Record]:
    await load_ingredients(db, read_catalog())
    await load_recipes(db, read_recipes())
    return await db.fetch("select id, cuisine from recipes where user_id is null order by slug")


def unlocked(listing: list[dict]) -> list[str]:
    return [a["slug"] for a in listing if a["unlocked"]]


async def test_every_metric_of_the_catalogue_is_computed(db: asyncpg.Connection) -> None:
    metrics = {row["metric"] for row in await db.fetch("select distinct metric from achievements")}
    assert metrics == set(AchievementMetricsRow.__struct_fields__)
    assert await db.fetchval("select count(*) from achievements") >= 20


async def test_a_new_user_sees_every_achievement_locked(client) -> None:
    auth = await sign_up(client)
    listing = (await client.get(ACHIEVEMENTS, headers=bearer(auth))).json()
    assert [a["slug"] for a in listing][:2] == ["first_scan", "scans_10"]
    assert all(not a["unlocked"] and a["progress"] == 0 and a["unlocked_at"] is None for a in listing)
    assert (await client.get(ACHIEVEMENTS)).status_code == 401


async def test_actions_unlock_achievements_once_with_xp(client, db: asyncpg.Connection, recipes) -> None:
    auth = await sign_up(client)
    # A first rating: 5 XP for rating, 50 for the achievement, in the rating's transaction.
    rated = await client.post(f"/api/v1/recipes/{recipes[0]['id']}/rate", headers=bearer(auth), json={"rating": 4})
    assert rated.json()["xp_awarded"] == 5
    listing = (await client.get(ACHIEVEMENTS, headers=bearer(auth))).json()
    assert unlocked(listing) == ["first_rating"]
    first_rating = next(a for a in listing if a["slug"] == "first_rating")
    assert first_rating["progress"] == 1 and first_rating["unlocked_at"]
    ratings_10 = next(a for a in listing if a["slug"] == "ratings_10")
    assert (ratings_10["progress"], ratings_10["threshold"], ratings_10["unlocked"]) == (1, 10, False)

    # Cooking three recipes of three cuisines: first_cook and cuisines_3.
    cuisines: dict[str, uuid.UUID] = {}
    for row in recipes:
        cuisines.setdefault(row["cuisine"], row["id"])
    for recipe_id in list(cuisines.values())[:3]:
        claim = {"action": "recipe_cooked", "metadata": {"recipe_id": str(recipe_id)}}
        assert (await client.post(ADD_XP, headers=bearer(auth), json=claim)).status_code == 200
    listing = (await client.get(ACHIEVEMENTS, headers=bearer(auth))).json()
    assert unlocked(listing) == ["first_cook", "cuisines_3", "first_rating"]
    progress = (await client.get("/api/v1/gamification/progress", headers=bearer(auth))).json()
    assert progress["achievements_earned"] == 3
    ledger = await db.fetch("select dedup_key from xp_ledger where action = 'achievement_unlocked' order by id")
    assert [row["dedup_key"] for row in ledger] == ["first_rating", "first_cook", "cuisines_3"]
    assert progress["total_xp"] == 5 + 3 * 50 + 3 * 50  # rating, three cooks, three achievements

    # Evaluating again changes nothing.
    async with db.transaction():
        assert await achievements.evaluate(db, uuid.UUID(auth["user"]["id"])) == []


async def test_concurrent_actions_unlock_once(client, db: asyncpg.Connection, recipes) -> None:
    auth = await sign_up(client)
    rates = (
        client.post(f"/api/v1/recipes/{row['id']}/rate", headers=bearer(auth), json={"rating": 5})
        for row in recipes[:6]
    )
    assert {r.status_code for r in await asyncio.gather(*rates)} == {200}
    assert await db.fetchval("select count(*) from user_achievements") == 1
    assert await db.fetchval("select count(*) from xp_ledger where action = 'achievement_unlocked'") == 1


async def test_streaks_and_written_out_recipes_unlock_theirs(client, db: asyncpg.Connection, recipes) -> None:
    auth = await sign_up(client)
    user_id = uuid.UUID(auth["user"]["id"])
    listener = await asyncpg.connect(client.app.state.services.settings.database.url)
    events: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("cookcam_events", lambda *args: events.put_nowait(args[-1]))
    try:
        start = datetime.datetime(2026, 11, 2, 12, tzinfo=datetime.UTC)
        for day in range(3):
            async with db.transaction():
                await streaks.record_cooking(db, user_id, start + datetime.timedelta(days=day))
                await achievements.evaluate(db, user_id)
        body = {"detected_ingredients": ["chicken thigh", "coconut milk"]}
        offered = (await client.post("/api/v1/recipes/generate-previews", headers=bearer(auth), json=body)).json()
        pick = {"session_id": offered["session_id"], "selected_preview": {"id": offered["previews"][0]["id"]}}
        assert (
            await client.post("/api/v1/recipes/generate-detailed", headers=bearer(auth), json=pick)
        ).status_code == 200
        await asyncio.sleep(0.2)
    finally:
        await listener.close()
    listing = (await client.get(ACHIEVEMENTS, headers=bearer(auth))).json()
    assert set(unlocked(listing)) == {"streak_3_days", "first_recipe"}
    sent = [msgspec.json.decode(events.get_nowait())["event"] for _ in range(events.qsize())]
    assert [e["data"]["slug"] for e in sent if e["type"] == "achievement.unlocked"] == ["streak_3_days", "first_recipe"]


async def test_exported_and_erased_with_the_account(client, db: asyncpg.Connection, recipes) -> None:
    auth = await sign_up(client)
    claim = {"action": "recipe_cooked", "metadata": {"recipe_id": str(recipes[0]["id"])}}
    await client.post(ADD_XP, headers=bearer(auth), json=claim)
    exported = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()
    assert [a["slug"] for a in exported["achievements"]] == ["first_cook"]
    assert [c["recipe_id"] for c in exported["cooking_log"]] == [str(recipes[0]["id"])]
    await client.request("DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD})
    assert await db.fetchval("select count(*) from user_achievements") == 0
    assert await db.fetchval("select count(*) from cooking_log") == 0
