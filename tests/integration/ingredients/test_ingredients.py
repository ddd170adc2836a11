"""The ingredient reference data (223 USDA SR Legacy items), typo-tolerant trigram search without pg_trgm, and
unit conversion."""

from __future__ import annotations

import asyncpg
import pytest

from app.ingredients.catalog import load_ingredients, read_catalog
from app.ingredients.units import UnitWeights, to_grams
from app.ops.reference_data import load_reference_data

INGREDIENTS = "/api/v1/ingredients"


@pytest.fixture
async def loaded(db: asyncpg.Connection) -> int:
    return await load_ingredients(db, read_catalog())


def test_the_data_file_is_complete_and_consistent() -> None:
    items = read_catalog()
    assert len(items) >= 150
    names = [i.name for i in items]
    aliases = [a for i in items for a in i.aliases]
    assert len(set(names)) == len(names)
    assert not set(names) & set(aliases)
    for item in items:
        n = item.per_100g
        assert n.protein_g + n.carbs_g + n.fat_g <= 100, item.name
        assert item.name == item.name.lower(), item.name


async def test_loading_is_idempotent(db: asyncpg.Connection, loaded: int) -> None:
    assert loaded == await db.fetchval("select count(*) from ingredients")
    assert await load_ingredients(db, read_catalog()) == loaded
    assert await db.fetchval("select count(*) from ingredients") == loaded


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("chicken breast", "chicken breast"),
        ("chiken brest", "chicken breast"),
        ("tomatoe", "tomato"),
        ("parmesan", "parmesan"),
        ("garbanzo", "chickpeas"),
        ("cilantro", "cilantro"),
    ],
)
async def test_search_tolerates_typos(client, loaded, query: str, expected: str) -> None:
    response = await client.get(f"{INGREDIENTS}/search", params={"q": query, "limit": 5})
    assert response.status_code == 200, response.text
    hits = response.json()["ingredients"]
    assert hits and hits[0]["name"] == expected, hits


async def test_search_limits_and_nonsense(client, loaded) -> None:
    assert (await client.get(f"{INGREDIENTS}/search", params={"q": "zzqxv"})).json()["ingredients"] == []
    # Weak partial matches (under 40 % of the query's trigrams) are left out.
    typo = (await client.get(f"{INGREDIENTS}/search", params={"q": "mozarella"})).json()["ingredients"]
    assert [hit["name"] for hit in typo] == ["mozzarella"]
    assert (await client.get(f"{INGREDIENTS}/search", params={"q": "a", "limit": 500})).status_code == 422
    assert (await client.get(f"{INGREDIENTS}/search")).status_code == 422


async def test_pages_categories_and_one_ingredient(client, loaded) -> None:
    page = (await client.get(INGREDIENTS, params={"category": "dairy", "limit": 5})).json()
    assert len(page["ingredients"]) == 5 and {i["category"] for i in page["ingredients"]} == {"dairy"}
    categories = {c["category"]: c["ingredients"] for c in (await client.get(f"{INGREDIENTS}/categories")).json()}
    assert sum(categories.values()) == loaded
    butter_id = next(
        i["id"]
        for i in (await client.get(INGREDIENTS, params={"limit": 100})).json()["ingredients"]
        if i["name"] == "butter"
    )
    butter = (await client.get(f"{INGREDIENTS}/{butter_id}")).json()
    assert butter["nutrition_per_100g"]["fat"] > 80
    assert butter["unit_weights"]["tbsp"] == pytest.approx(14.2, abs=0.5)
    assert (await client.get(f"{INGREDIENTS}/999999")).status_code == 404
    assert (await client.get(INGREDIENTS, params={"category": "spaceship"})).status_code == 422


def test_units_convert_exactly_or_say_why_not() -> None:
    flour = UnitWeights(cup=125.0)
    assert to_grams(2, "cup", flour).grams == 250.0
    assert to_grams(1, "tbsp", flour).grams == pytest.approx(125 / 16)  # scaled from the cup
    assert to_grams(1, "lb", flour).grams == pytest.approx(453.59237)
    milk = UnitWeights(ml_density=1.03)
    assert to_grams(1, "l", milk).grams == pytest.approx(1030.0)
    assert to_grams(1, "cup", milk).method == "density"
    egg = UnitWeights(piece=50.0)
    assert to_grams(3, "piece", egg).grams == 150.0
    assert to_grams(2, "cup", egg).method == "unconvertible"
    assert to_grams(None, "to_taste", egg).method == "to_taste"


async def test_reference_data_loads_when_its_files_change(db: asyncpg.Connection) -> None:
    assert await load_reference_data(db) == "Reference data: loaded 223 ingredients and 210 recipes."
    assert await load_reference_data(db) == "Reference data: current."
    await db.execute("update reference_data set sha256 = repeat('0', 64) where name = 'recipes'")
    assert await load_reference_data(db) == "Reference data: loaded 210 recipes."
    assert await db.fetchval("select count(*) from recipes where user_id is null") == 210
