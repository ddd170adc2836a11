"""The Recipe body's image_url: the picture of a catalog recipe from the catalog's file (https, bounded), kept
across reloads; a user's own recipes have none."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import msgspec
import pytest

from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import bearer, sign_up

IMAGE = "https://images.cookcam.app/recipes/spaghetti-carbonara.jpg?w=800"


@pytest.fixture
async def table(db: asyncpg.Connection) -> None:
    await load_ingredients(db, read_catalog())


def catalog_file(directory: Path, **changes: object) -> Path:
    """A catalog of one shipped recipe (carbonara), with changes."""
    [carbonara] = [r for r in read_recipes() if r.slug == "spaghetti-carbonara"]
    recipe = msgspec.structs.replace(carbonara, **changes)
    (directory / "catalog_test.json").write_bytes(msgspec.json.encode([recipe]))
    return directory


async def test_a_catalog_recipe_keeps_its_image(client, db, table, tmp_path: Path) -> None:
    auth = await sign_up(client)
    assert await load_recipes(db, read_recipes(catalog_file(tmp_path, image_url=IMAGE))) == 1
    recipe_id = await db.fetchval("select id from recipes where slug = 'spaghetti-carbonara'")
    body = (await client.get(f"/api/v1/recipes/{recipe_id}", headers=bearer(auth))).json()
    assert (body["source"], body["image_url"]) == ("catalog", IMAGE)
    # Reloading the same file keeps it; in the saved list and the suggestions too.
    await load_recipes(db, read_recipes(tmp_path))
    await client.post(f"/api/v1/recipes/{recipe_id}/save", headers=bearer(auth))
    [saved] = (await client.get("/api/v1/recipes/saved/my", headers=bearer(auth))).json()["recipes"]
    assert saved["image_url"] == IMAGE
    found = await client.post(
        "/api/v1/recipes/suggestions", headers=bearer(auth), json={"ingredients": ["spaghetti", "pancetta"]}
    )
    [suggestion] = found.json()["suggestions"]
    assert suggestion["recipe"]["image_url"] == IMAGE
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
