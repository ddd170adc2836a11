"""The shipped reference data (the ingredient table and the recipe catalog), loaded by `cookcam migrate` in every
environment when a file changed (by sha256), once across instances starting together (advisory lock)."""

from __future__ import annotations

import hashlib

from app.db.pool import connect
from app.db.queries import reference as q
from app.db.types import Connection
from app.ingredients.catalog import DATA_FILE, load_ingredients, read_catalog
from app.recipes.catalog import DATA_DIR, load_recipes, read_recipes


def _digest(*paths: object) -> str:
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        with open(path, "rb") as data:
            digest.update(data.read())
    return digest.hexdigest()


async def load_reference_data(conn: Connection) -> str:
    """Load what changed; ingredients first (recipes link to them). Returns a line for the operator."""
    ingredients_sha = _digest(DATA_FILE)
    # Recipes link to ingredients by name: a new ingredient table relinks them too.
    recipes_sha = _digest(*DATA_DIR.glob("catalog_*.json"), DATA_FILE)
    done = []
    async with conn.transaction():
        await q.lock_reference_data(conn)
        if await q.get_reference_version(conn, name="ingredients") != ingredients_sha:
            done.append(f"{await load_ingredients(conn, read_catalog())} ingredients")
            await q.set_reference_version(conn, name="ingredients", sha256=ingredients_sha)
        if await q.get_reference_version(conn, name="recipes") != recipes_sha:
            done.append(f"{await load_recipes(conn, read_recipes())} recipes")
            await q.set_reference_version(conn, name="recipes", sha256=recipes_sha)
    return f"Reference data: loaded {' and '.join(done)}." if done else "Reference data: current."


async def load_reference_data_at(dsn: str) -> str:
    conn = await connect(dsn)
    try:
        return await load_reference_data(conn)
    finally:
        await conn.close()
