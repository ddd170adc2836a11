"""The Recipe body's nutrition_info and image_url: nutrition per serving from the ingredient table (the figures of
GET /recipes/{id}/nutrition), null when too little could be counted or the result is beyond what a serving can
hold; the picture of a catalog recipe from the catalog's file (https, bounded), kept across reloads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import msgspec
import pytest

from app.ingredients.catalog import DATA_FILE, load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import bearer, sign_up

SIX = ("calories", "protein", "carbs", "fat", "fiber", "sodium")
IMAGE = "https://images.cookcam.app/recipes/spaghetti-carbonara.jpg?w=800"


@pytest.fixture
async def table(db: asyncpg.Connection) -> dict[str, dict]:
    """The ingredient table loaded, and its shipped figures by name."""
    await load_ingredients(db, read_catalog())
    return {item["name"]: item for item in json.loads(DATA_FILE.read_text())}


async def own_recipe(db: asyncpg.Connection, auth: dict, lines: list[dict], servings: int | None) -> uuid.UUID:
    recipe_id: uuid.UUID = await db.fetchval(
        "insert into recipes (user_id, title, servings, ingredients, steps) values ($1, 'Mine', $2, $3, $4)"
        " returning id",
        uuid.UUID(auth["user"]["id"]),
        servings,
        lines,
        ["Cook."],
    )
    return recipe_id


def catalog_file(directory: Path, **changes: object) -> Path:
    """A catalog of one shipped recipe (carbonara), with changes."""
    [carbonara] = [r for r in read_recipes() if r.slug == "spaghetti-carbonara"]
    recipe = msgspec.structs.replace(carbonara, **changes)
    (directory / "catalog_test.json").write_bytes(msgspec.json.encode([recipe]))
    return directory


async def test_a_recipe_carries_its_nutrition_per_serving(client, db, table) -> None:
    auth = await sign_up(client)
    lines = [
        {"name": "spaghetti", "quantity": 200, "unit": "g"},
        {"name": "egg", "quantity": 2, "unit": "piece"},
        {"name": "salt", "quantity": None, "unit": "to_taste"},
    ]
    recipe_id = await own_recipe(db, auth, lines, servings=2)
    body = (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()
    info = body["nutrition_info"]
    assert sorted(info) == sorted(SIX)
    spaghetti, egg = table["spaghetti"]["per_100g"], table["egg"]["per_100g"]
    egg_grams = 2 * table["egg"]["grams_per"]["piece"]
    assert info["calories"] == pytest.approx(
        (spaghetti["calories"] * 2 + egg["calories"] * egg_grams / 100) / 2, abs=0.1
    )
    assert info["sodium"] == pytest.approx(
        (spaghetti["sodium_mg"] * 2 + egg["sodium_mg"] * egg_grams / 100) / 2, abs=0.1
    )
    assert body["image_url"] is None  # a user's own recipe has no picture
    # One source: the nutrition report's per-serving figures, whatever `servings` the report is asked for.
    report = await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(auth), params={"servings": 5})
    assert {key: report.json()["per_serving"][key] for key in SIX} == info
    # The lists carry the same body.
    await client.post(f"/api/v1/recipes/{recipe_id}/save", headers=bearer(auth), json={"saved": True})
    for path in ("/api/v1/recipes", "/api/v1/recipes/saved/my"):
        [listed] = (await client.get(path, headers=bearer(auth))).json()["recipes"]
        assert (listed["id"], listed["nutrition_info"], listed["image_url"]) == (str(recipe_id), info, None)


async def test_a_recipe_stating_no_servings_is_one_serving(client, db, table) -> None:
    auth = await sign_up(client)
    recipe_id = await own_recipe(db, auth, [{"name": "rice", "quantity": 100, "unit": "g"}], servings=None)
    info = (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()["nutrition_info"]
    assert info["calories"] == pytest.approx(table["rice"]["per_100g"]["calories"], abs=0.1)


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([{"name": "dragonfruit", "quantity": 1, "unit": "piece"}], id="nothing in the table"),
        pytest.param([{"name": "salt", "quantity": None, "unit": "to_taste"}], id="only to taste"),
        pytest.param([], id="no lines"),
        pytest.param(
            [{"name": "rice", "quantity": 100, "unit": "g"}, {"name": "dragonfruit", "quantity": 1, "unit": "piece"}],
            id="half counted",
        ),
        pytest.param(
            [{"name": "rice", "quantity": 100, "unit": "g"}, {"name": "rice", "quantity": 1, "unit": "piece"}],
            id="half convertible",
        ),
    ],
)
async def test_nutrition_is_null_when_too_little_is_known(client, db, table, lines) -> None:
    auth = await sign_up(client)
    recipe_id = await own_recipe(db, auth, lines, servings=2)
    response = await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))
    assert response.status_code == 200, response.text
    assert response.json()["nutrition_info"] is None
    # The report still says what it could and could not count.
    report = await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(auth))
    assert report.status_code == 200 and report.json()["match_quality"]["lines"] == len(lines)


async def test_three_of_four_lines_counted_is_enough(client, db, table) -> None:
    auth = await sign_up(client)
    lines = [
        {"name": "rice", "quantity": 100, "unit": "g"},
        {"name": "egg", "quantity": 1, "unit": "piece"},
        {"name": "butter", "quantity": 1, "unit": "tbsp"},
        {"name": "dragonfruit", "quantity": 1, "unit": "piece"},
    ]
    recipe_id = await own_recipe(db, auth, lines, servings=1)
    info = (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()["nutrition_info"]
    assert info is not None and info["calories"] > 0


async def test_an_absurd_recipe_answers_null_not_absurd_numbers(client, db, table) -> None:
    """Two kilograms of butter in one serving: 14,000 kcal, 1.6 kg of fat. Beyond what a serving can hold, so
    unknown in the body; the report still shows the arithmetic."""
    auth = await sign_up(client)
    recipe_id = await own_recipe(db, auth, [{"name": "butter", "quantity": 2000, "unit": "g"}], servings=1)
    assert (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()["nutrition_info"] is None
    report = (await client.get(f"/api/v1/recipes/{recipe_id}/nutrition", headers=bearer(auth))).json()
    assert report["per_serving"]["calories"] > 10_000


async def test_a_catalog_recipe_keeps_its_image(client, db, table, tmp_path: Path) -> None:
    auth = await sign_up(client)
    assert await load_recipes(db, read_recipes(catalog_file(tmp_path, image_url=IMAGE))) == 1
    recipe_id = await db.fetchval("select id from recipes where slug = 'spaghetti-carbonara'")
    body = (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()
    assert (body["source"], body["image_url"]) == ("catalog", IMAGE)
    assert body["nutrition_info"]["calories"] > 0  # carbonara's lines are mostly in the table
    # Reloading the same file keeps it; in the saved list and the suggestions too.
    await load_recipes(db, read_recipes(tmp_path))
    await client.post(f"/api/v1/recipes/{recipe_id}/save", headers=bearer(auth))
    [saved] = (await client.get("/api/v1/recipes/saved/my", headers=bearer(auth))).json()["recipes"]
    assert saved["image_url"] == IMAGE
    found = await client.post(
        "/api/v1/recipes/suggestions", headers=bearer(auth), json={"ingredients": ["spaghetti", "pancetta"]}
    )
    [suggestion] = found.json()["suggestions"]
    assert (suggestion["recipe"]["image_url"], suggestion["recipe"]["nutrition_info"]) == (
        IMAGE,
        body["nutrition_info"],
    )
    # The file is the source: a version without the picture removes it.
    await load_recipes(db, read_recipes(catalog_file(tmp_path, image_url=None)))
    assert (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()["image_url"] is None


async def test_a_users_own_recipe_has_no_image(client, db) -> None:
    auth = await sign_up(client)
    recipe_id = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', $2) returning id",
        uuid.UUID(auth["user"]["id"]),
        ["Cook."],
    )
    for path in (f"/api/v1/recipes/{recipe_id}", "/api/v1/recipes"):
        body = (await client.get(path, headers=bearer(auth))).json()
        assert (body.get("recipes") or [body])[0]["image_url"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://images.cookcam.app/a.jpg",
        "javascript:alert(1)",
        "https://user:secret@images.cookcam.app/a.jpg",
        "https://images.cookcam.app/a b.jpg",
        "https://images.cookcam.app/a.jpg\n",
        "https://images.cookcam.app/" + "a" * 2048,
        "",
    ],
)
async def test_image_urls_are_https_and_bounded(db, tmp_path: Path, url: str) -> None:
    """Checked when the catalog's file is read, and again by the column's constraint."""
    with pytest.raises(msgspec.ValidationError):
        read_recipes(catalog_file(tmp_path, image_url=url))
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "insert into recipes (slug, title, ingredients, steps, image_url) values ('x', 'X', '[]', '[]', $1)", url
        )
