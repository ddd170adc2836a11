"""Saves, favourites and ratings: idempotent when the app says what it wants, toggles otherwise; the free tier's
50 saved recipes enforced under concurrency; the caller's own recipes listed and deleted, nobody else's."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from app.db.pool import create_pool
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes import collections
from app.recipes.catalog import load_recipes, read_recipes
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, sign_up

RECIPES = "/api/v1/recipes"


@pytest.fixture
async def recipe_ids(db: asyncpg.Connection) -> list[uuid.UUID]:
    await load_ingredients(db, read_catalog())
    await load_recipes(db, read_recipes())
    return [r["id"] for r in await db.fetch("select id from recipes where user_id is null order by slug")]


async def test_save_and_favorite_set_or_toggle(client, recipe_ids) -> None:
    auth = await sign_up(client)
    first = recipe_ids[0]
    toggled = await client.post(f"{RECIPES}/{first}/save", headers=bearer(auth))
    assert toggled.json() == {"saved": True, "saved_count": 1, "saved_limit": 50}
    again = await client.post(f"{RECIPES}/{first}/save", headers=bearer(auth), json={"saved": True})
    assert again.json()["saved_count"] == 1  # setting is idempotent
    assert (await client.post(f"{RECIPES}/{first}/save", headers=bearer(auth))).json()["saved"] is False
    favorite = await client.post(f"{RECIPES}/{first}/favorite", headers=bearer(auth), json={"favorited": True})
    assert favorite.json() == {"favorited": True}
    await client.post(f"{RECIPES}/{first}/save", headers=bearer(auth), json={"saved": True})
    saved = (await client.get(f"{RECIPES}/saved/my", headers=bearer(auth))).json()["recipes"]
    assert [(r["id"], r["is_favorited"]) for r in saved] == [(str(first), True)]
    # The recipe itself says so too, to its reader only.
    assert (await client.get(f"{RECIPES}/{first}", headers=bearer(auth))).json()["is_favorited"] is True
    other = await sign_up(client)
    assert (await client.get(f"{RECIPES}/{first}", headers=bearer(other))).json()["is_favorited"] is False
    assert (await client.post(f"{RECIPES}/{first}/favorite", headers=bearer(auth))).json() == {"favorited": False}
    assert (await client.get(f"{RECIPES}/{first}", headers=bearer(auth))).json()["is_favorited"] is False
    missing = await client.post(f"{RECIPES}/{uuid.uuid4()}/save", headers=bearer(auth))
    assert (missing.status_code, missing.json()["code"]) == (404, "RECIPE_NOT_FOUND")


async def test_ratings_are_one_per_user_and_averaged(client, recipe_ids) -> None:
    a, b = await sign_up(client), await sign_up(client)
    recipe = recipe_ids[1]
    assert (await client.post(f"{RECIPES}/{recipe}/rate", headers=bearer(a), json={"rating": 5})).json() == {
        "rating": 5,
        "average_rating": 5.0,
        "ratings_count": 1,
        "xp_awarded": 5,  # recipe_rated, once per recipe (tests/integration/gamification)
    }
    second = (await client.post(f"{RECIPES}/{recipe}/rate", headers=bearer(b), json={"rating": 2})).json()
    assert (second["average_rating"], second["ratings_count"]) == (3.5, 2)
    changed = (await client.post(f"{RECIPES}/{recipe}/rate", headers=bearer(a), json={"rating": 4})).json()
    assert (changed["average_rating"], changed["ratings_count"]) == (3.0, 2)
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "five"}, {"rating": 4.5}, {}):
        assert (await client.post(f"{RECIPES}/{recipe}/rate", headers=bearer(a), json=bad)).status_code in (400, 422)


async def test_the_free_tier_keeps_50_saved_recipes(client, recipe_ids) -> None:
    auth = await sign_up(client)
    for recipe in recipe_ids[:50]:
        assert (
            await client.post(f"{RECIPES}/{recipe}/save", headers=bearer(auth), json={"saved": True})
        ).status_code == 200
    refused = await client.post(f"{RECIPES}/{recipe_ids[50]}/save", headers=bearer(auth), json={"saved": True})
    assert (refused.status_code, refused.json()["code"]) == (403, "SAVED_RECIPES_LIMIT_REACHED")
    # Unsaving one makes room again.
    await client.post(f"{RECIPES}/{recipe_ids[0]}/save", headers=bearer(auth), json={"saved": False})
    assert (
        await client.post(f"{RECIPES}/{recipe_ids[50]}/save", headers=bearer(auth), json={"saved": True})
    ).status_code == 200


async def test_parallel_saves_cannot_pass_the_limit(database_url, db: asyncpg.Connection, recipe_ids) -> None:
    user_id = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id", f"{uuid.uuid4()}@t.io"
    )
    await db.executemany(
        "insert into saved_recipes (user_id, recipe_id) values ($1, $2)", [(user_id, r) for r in recipe_ids[:49]]
    )
    settings = make_settings(database_url)
    pool = await create_pool(database_url, settings.database)

    async def save(recipe_id: uuid.UUID) -> bool:
        async with pool.acquire() as conn:
            try:
                await collections.set_saved(conn, settings, user_id, recipe_id, True)
                return True
            except collections.SavedLimitReached:
                return False

    try:
        outcomes = await asyncio.gather(*(save(r) for r in recipe_ids[49:59]))
    finally:
        await pool.close()
    assert outcomes.count(True) == 1
    assert await db.fetchval("select count(*) from saved_recipes where user_id = $1", user_id) == 50


async def test_own_recipes_are_listed_and_deleted_by_their_owner_only(client, db, recipe_ids) -> None:
    owner, other = await sign_up(client), await sign_up(client)
    own = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', $2) returning id",
        uuid.UUID(owner["user"]["id"]),
        ["Cook."],
    )
    assert [r["id"] for r in (await client.get(RECIPES, headers=bearer(owner))).json()["recipes"]] == [str(own)]
    assert (await client.get(RECIPES, headers=bearer(other))).json()["recipes"] == []
    assert (await client.delete(f"{RECIPES}/{own}", headers=bearer(other))).status_code == 404
    assert (await client.delete(f"{RECIPES}/{recipe_ids[0]}", headers=bearer(owner))).status_code == 404  # catalog
    assert (await client.delete(f"{RECIPES}/{own}", headers=bearer(owner))).status_code == 204
    assert (await client.get(RECIPES, headers=bearer(owner), params={"limit": 500})).status_code in (400, 422)


async def test_export_and_deletion_cover_recipes_and_activity(client, db: asyncpg.Connection, recipe_ids) -> None:
    auth = await sign_up(client)
    user_id = uuid.UUID(auth["user"]["id"])
    own = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', $2) returning id",
        user_id,
        ["Cook."],
    )
    await client.post(f"{RECIPES}/{recipe_ids[0]}/save", headers=bearer(auth), json={"saved": True})
    await client.post(f"{RECIPES}/{recipe_ids[0]}/favorite", headers=bearer(auth), json={"favorited": True})
    await client.post(f"{RECIPES}/{own}/rate", headers=bearer(auth), json={"rating": 4})
    export = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()
    assert [r["id"] for r in export["recipes"]] == [str(own)]
    assert sorted(a["kind"] for a in export["recipe_activity"]) == ["favorite", "rating", "saved"]
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    for table in ("recipes", "saved_recipes", "favorite_recipes", "recipe_ratings"):
        assert await db.fetchval(f"select count(*) from {table} where user_id = $1", user_id) == 0, table
    assert await db.fetchval("select count(*) from recipes where user_id is null") == len(recipe_ids)
