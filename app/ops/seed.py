"""Seed data: the ingredient reference table and the recipe catalog, and for the development default one demo
account whose credentials the README states."""

from __future__ import annotations

from app.auth.service import normalise_email
from app.core.passwords import Passwords
from app.db.pool import connect
from app.db.queries import auth as q
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from app.settings import Settings


async def seed(dsn: str, settings: Settings) -> str:
    conn = await connect(dsn)
    try:
        loaded = await load_ingredients(conn, read_catalog())
        recipes = await load_recipes(conn, read_recipes())
        email = normalise_email(settings.demo.email)
        if await q.get_credentials_by_email(conn, email=email) is not None:
            return f"Loaded {loaded} ingredients and {recipes} recipes. Demo user {email} already exists."
        await q.create_user(
            conn, email=email, password_hash=await Passwords(1).hash(settings.demo.password), name="Demo Cook"
        )
        return f"Loaded {loaded} ingredients and {recipes} recipes. Seeded demo user {email}."
    finally:
        await conn.close()
