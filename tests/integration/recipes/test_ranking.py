"""The in-memory ranking index against a brute-force SQL ranking of the same catalog, and its freshness: any change
to the catalog (by the loader or straight SQL) is seen by the next ranking; a user's own recipes do not rebuild it."""

from __future__ import annotations

import random
import uuid

import asyncpg
import pytest

from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from app.recipes.ranking import TAG_BITS, CatalogRanking
from tests.support import bearer, sign_up

# The ranking as one SQL statement (how it was done before the index): the oracle.
BRUTE_FORCE = """
select r.id, m.matched::integer as matched, (r.key_ingredients - m.matched)::integer as missing
from (select recipe_id, count(*) as matched from recipe_ingredients
      where ingredient_id = any($1::integer[]) and not staple group by recipe_id) m
join recipes r on r.id = m.recipe_id
where r.user_id is null and ($2::text is null or r.meal_type = $2) and r.dietary_tags @> $3::text[]
order by m.matched desc, r.key_ingredients - m.matched, r.title, r.id
limit $4
"""
MEALS = [None, "breakfast", "lunch", "dinner", "snack", "dessert"]


@pytest.fixture
async def ingredient_ids(db: asyncpg.Connection) -> list[int]:
    await load_ingredients(db, read_catalog())
    return [row["id"] for row in await db.fetch("select id from ingredients order by id")]


async def insert_random_catalog(db: asyncpg.Connection, ids: list[int], count: int, rng: random.Random) -> None:
    """Synthetic catalog recipes: few distinct titles (so ties reach the last tie-break), 1-10 links each."""
    tags = list(TAG_BITS)
    for n in range(count):
        recipe_id = await db.fetchval(
            "insert into recipes (slug, title, meal_type, dietary_tags, ingredients, steps)"
            " values ($1, $2, $3, $4, '[]', '[]') returning id",
            f"synthetic-{n}",
            f"Dish {rng.randrange(40)}",
            rng.choice(MEALS),
            rng.sample(tags, rng.randrange(3)),
        )
        await db.execute(
            "insert into recipe_ingredients (recipe_id, ingredient_id, staple)"
            " select $1, i.id, i.pantry_staple from ingredients i where i.id = any($2::integer[])",
            recipe_id,
            rng.sample(ids[:60], rng.randrange(1, 11)),
        )
        await db.execute(
            "update recipes set key_ingredients = (select count(*) from recipe_ingredients"
            " where recipe_id = $1 and not staple) where id = $1",
            recipe_id,
        )


async def test_the_index_ranks_as_the_brute_force_query(db: asyncpg.Connection, ingredient_ids: list[int]) -> None:
    rng = random.Random(20261125)
    await insert_random_catalog(db, ingredient_ids, 600, rng)
    index = await CatalogRanking().current(db)
    compared = 0
    for _ in range(150):
        asked = rng.sample(ingredient_ids[:70], rng.randrange(1, 12))
        meal = rng.choice(MEALS)
        tags = rng.sample(list(TAG_BITS), rng.choice([0, 0, 1, 2]))
        limit = rng.choice([1, 5, 20])
        expected = [
            (row["id"], row["matched"], row["missing"]) for row in await db.fetch(BRUTE_FORCE, asked, meal, tags, limit)
        ]
        ranked = index.rank(asked, meal_type=meal, required_tags=tags, limit=limit)
        assert [(r.id, r.matched, r.missing) for r in ranked] == expected, (asked, meal, tags, limit)
        compared += len(expected)
    assert compared > 500  # the random queries did find recipes


async def test_changes_to_the_catalog_are_seen_by_the_next_ranking(db: asyncpg.Connection, ingredient_ids) -> None:
    ranking = CatalogRanking()
    empty = await ranking.current(db)
    assert empty.rank(ingredient_ids, meal_type=None, required_tags=[], limit=5) == []
    await load_recipes(db, read_recipes())
    loaded = await ranking.current(db)
    assert loaded.version > empty.version
    tofu = await db.fetchval("select id from ingredients where name = 'tofu'")
    assert loaded.rank([tofu], meal_type=None, required_tags=[], limit=3)
    assert await ranking.current(db) is loaded  # unchanged catalog: the same index, not rebuilt

    # A link removed by hand: the next ranking no longer counts it.
    first = loaded.rank([tofu], meal_type=None, required_tags=[], limit=1)[0]
    await db.execute("delete from recipe_ingredients where recipe_id = $1 and ingredient_id = $2", first.id, tofu)
    after = await ranking.current(db)
    assert first.id not in [r.id for r in after.rank([tofu], meal_type=None, required_tags=[], limit=50)]

    # A user's own recipe, and its deletion, leave the catalog version alone.
    user = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'U') returning id", f"{uuid.uuid4()}@t.io"
    )
    own = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', '[]') returning id", user
    )
    await db.execute("delete from recipes where id = $1", own)
    assert await ranking.current(db) is after


async def test_suggestions_follow_a_recipe_added_by_sql(client, db: asyncpg.Connection, ingredient_ids) -> None:
    await load_recipes(db, read_recipes())
    auth = await sign_up(client)
    body = {"ingredients": ["tofu", "kale", "quinoa"], "limit": 1}
    before = (await client.post("/api/v1/recipes/suggestions", headers=bearer(auth), json=body)).json()
    await insert_exact(db, "Tofu kale quinoa bowl", ["tofu", "kale", "quinoa"])
    after = (await client.post("/api/v1/recipes/suggestions", headers=bearer(auth), json=body)).json()
    assert after["suggestions"][0]["recipe"]["title"] == "Tofu kale quinoa bowl"
    assert after["suggestions"][0]["match"] == {"matched": 3, "missing": 0}
    assert before["suggestions"][0]["recipe"]["title"] != "Tofu kale quinoa bowl"


async def insert_exact(db: asyncpg.Connection, title: str, names: list[str]) -> None:
    recipe_id = await db.fetchval(
        "insert into recipes (slug, title, ingredients, steps, key_ingredients) values ('exact', $1, '[]', '[]', $2)"
        " returning id",
        title,
        len(names),
    )
    await db.execute(
        "insert into recipe_ingredients (recipe_id, ingredient_id, staple)"
        " select $1, id, pantry_staple from ingredients where name = any($2::text[])",
        recipe_id,
        names,
    )
