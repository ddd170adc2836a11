"""The recipe catalog in the database: loaded idempotently with its ingredient links, ranked by overlap with the
user's ingredients (pantry staples not counted), filtered, and readable by id; a user's own recipes stay theirs."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from app.ingredients.catalog import DATA_FILE as DATA
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import bearer, sign_up

SUGGEST = "/api/v1/recipes/suggestions"


@pytest.fixture
async def catalog(db: asyncpg.Connection) -> int:
    await load_ingredients(db, read_catalog())
    return await load_recipes(db, read_recipes())


async def test_loading_links_ingredients_and_is_idempotent(db: asyncpg.Connection, catalog: int) -> None:
    assert await db.fetchval("select count(*) from recipes where user_id is null") == catalog == 210
    links = await db.fetchval("select count(*) from recipe_ingredients")
    assert links > 1500
    assert await load_recipes(db, read_recipes()) == catalog
    assert await db.fetchval("select count(*) from recipe_ingredients") == links
    carbonara = await db.fetchrow(
        "select r.key_ingredients, array_agg(i.name order by i.name) as names from recipes r"
        " join recipe_ingredients ri on ri.recipe_id = r.id join ingredients i on i.id = ri.ingredient_id"
        " where r.slug = 'spaghetti-carbonara' group by r.key_ingredients"
    )
    # Lines naming table ingredients are linked; "pecorino romano" is not in the table, so it is not.
    assert {"spaghetti", "pancetta", "egg", "parmesan", "salt", "black pepper"} == set(carbonara["names"])
    assert carbonara["key_ingredients"] == 3  # egg, salt and black pepper are pantry staples in the table


async def test_suggestions_rank_by_shared_ingredients(client, catalog) -> None:
    auth = await sign_up(client)
    body = {"ingredients": ["Chicken Thigh", "coconut milk", "curry paste", "salt", "rice", "dragonfruit"], "limit": 5}
    response = await client.post(SUGGEST, headers=bearer(auth), json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["unrecognised"] == ["dragonfruit"]
    suggestions = result["suggestions"]
    assert 1 <= len(suggestions) <= 5
    matched = [s["match"]["matched"] for s in suggestions]
    assert matched == sorted(matched, reverse=True)
    assert matched[0] >= 2
    first = suggestions[0]["recipe"]
    assert first["source"] == "catalog" and first["instructions"] and first["ingredients"]
    # Salt alone (a staple) suggests nothing.
    staples = await client.post(SUGGEST, headers=bearer(auth), json={"ingredients": ["salt", "olive oil"]})
    assert staples.json()["suggestions"] == []


async def test_filters_and_validation(client, catalog) -> None:
    auth = await sign_up(client)
    vegan = await client.post(
        SUGGEST, headers=bearer(auth), json={"ingredients": ["tofu", "garlic", "ginger"], "dietary_tags": ["vegan"]}
    )
    for suggestion in vegan.json()["suggestions"]:
        assert "vegan" in suggestion["recipe"]["dietary_tags"]
    breakfast = await client.post(
        SUGGEST, headers=bearer(auth), json={"ingredients": ["egg", "bread"], "meal_type": "breakfast", "limit": 20}
    )
    assert breakfast.json()["suggestions"]
    assert (await client.post(SUGGEST, headers=bearer(auth), json={"ingredients": []})).status_code in (400, 422)
    too_many = {"ingredients": ["egg"], "limit": 500}
    assert (await client.post(SUGGEST, headers=bearer(auth), json=too_many)).status_code in (400, 422)
    assert (await client.post(SUGGEST, json={"ingredients": ["egg"]})).status_code == 401


async def test_a_recipe_by_id_catalog_or_own(client, db: asyncpg.Connection, catalog) -> None:
    owner, other = await sign_up(client), await sign_up(client)
    catalog_id = await db.fetchval("select id from recipes where user_id is null order by slug limit 1")
    assert (await client.get(f"/api/v1/recipes/{catalog_id}", headers=bearer(other))).status_code == 200
    own_id = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', $2) returning id",
        uuid.UUID(owner["user"]["id"]),
        ["Cook."],
    )
    assert (await client.get(f"/api/v1/recipes/{own_id}", headers=bearer(owner))).json()["source"] == "generated"
    assert (await client.get(f"/api/v1/recipes/{own_id}", headers=bearer(other))).status_code == 404
    assert (await client.get(f"/api/v1/recipes/{uuid.uuid4()}", headers=bearer(owner))).status_code == 404


async def test_nutrition_counts_what_it_can_and_says_what_it_cannot(client, db: asyncpg.Connection, catalog) -> None:
    auth = await sign_up(client)
    data = {item["name"]: item for item in json.loads(DATA.read_text())}
    lines = [
        {"name": "spaghetti", "quantity": 200, "unit": "g"},
        {"name": "egg", "quantity": 2, "unit": "piece"},
        {"name": "black pepper", "quantity": None, "unit": "to_taste"},
        {"name": "dragonfruit", "quantity": 1, "unit": "piece"},
        {"name": "spaghetti", "quantity": 1, "unit": "piece"},
    ]
    recipe_id = await db.fetchval(
        "insert into recipes (user_id, title, servings, ingredients, steps)"
        " values ($1, 'Test', 2, $2, $3) returning id",
        uuid.UUID(auth["user"]["id"]),
        lines,
        ["Cook."],
    )
    response = await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(auth), params={"servings": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    spaghetti, egg = data["spaghetti"]["per_100g"], data["egg"]["per_100g"]
    egg_grams = 2 * data["egg"]["grams_per"]["piece"]
    total_calories = spaghetti["calories"] * 2 + egg["calories"] * egg_grams / 100
    assert body["per_serving"]["calories"] == pytest.approx(total_calories / 2, abs=0.1)
    assert body["total"]["calories"] == pytest.approx(total_calories * 2, abs=0.2)  # 4 servings of a 2-serving recipe
    assert body["total"]["sodium"] == pytest.approx(
        (spaghetti["sodium_mg"] * 2 + egg["sodium_mg"] * egg_grams / 100) * 2, abs=0.2
    )
    quality = body["match_quality"]
    assert quality["unmatched"] == ["dragonfruit"]
    assert quality["unconvertible"] == ["1 piece spaghetti"]
    assert quality["to_taste"] == ["black pepper"]
    assert (quality["counted"], quality["coverage"]) == (2, 0.5)
    other = await sign_up(client)
    assert (await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(other))).status_code == 404
    bad = await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(auth), params={"servings": 0})
    assert bad.status_code in (400, 422)
