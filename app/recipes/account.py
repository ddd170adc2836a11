"""Recipes' share of an account's export: its own recipes, and its saves, favourites and ratings of any recipe."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import collections as q
from app.db.types import Connection


class RecipesSection(msgspec.Struct, frozen=True):
    recipes: list[q.ListOwnRecipesRow]
    recipe_activity: list[q.ExportRecipeActivityRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> RecipesSection:
    return RecipesSection(
        recipes=await q.list_own_recipes(conn, user_id=user_id, max_rows=100_000, skip=0),
        recipe_activity=await q.export_recipe_activity(conn, user_id=user_id),
    )
