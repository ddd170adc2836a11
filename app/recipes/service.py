"""Recipes: catalog suggestions ranked by overlap with the user's ingredients, and reading one recipe."""

from __future__ import annotations

import uuid

import msgspec

from app.core.errors import NotFound
from app.db.queries import collections as collections_q
from app.db.queries import recipes as q
from app.db.types import Connection
from app.recipes.nutrition import RecipeNutrition, nutrition
from app.recipes.ranking import CatalogRanking
from app.recipes.schemas import IngredientLine, Match, Recipe, Suggestion, Suggestions, SuggestionsRequest

# Every query that selects a whole recipe.
RecipeRow = q.GetRecipeRow | q.GetRecipesRow | collections_q.ListSavedRecipesRow | collections_q.ListOwnRecipesRow


def recipe_of(row: RecipeRow) -> Recipe:
    return Recipe(
        id=row.id,
        title=row.title,
        ingredients=msgspec.convert(row.ingredients, list[IngredientLine]),
        instructions=msgspec.convert(row.steps, list[str]),
        created_at=row.created_at,
        description=row.description,
        prep_time=row.prep_minutes,
        cook_time=row.cook_minutes,
        servings=row.servings,
        difficulty=row.difficulty,
        cuisine_type=row.cuisine,
        dietary_tags=row.dietary_tags,
        image_url=row.image_url,
        source="catalog" if row.user_id is None else "generated",
    )


async def suggest(
    conn: Connection, ranking: CatalogRanking, user_id: uuid.UUID, request: SuggestionsRequest
) -> Suggestions:
    names = sorted({" ".join(name.lower().split()) for name in request.ingredients})
    known = await q.ingredient_ids_by_name(conn, names=names)
    recognised = {name for row in known for name in (row.name, *row.aliases)}
    index = await ranking.current(conn)
    ranked = index.rank(
        [row.id for row in known],
        meal_type=request.meal_type,
        required_tags=list(request.dietary_tags),
        limit=request.limit,
    )
    recipes = {row.id: recipe_of(row) for row in await q.get_recipes(conn, ids=[r.id for r in ranked], user_id=user_id)}
    return Suggestions(
        suggestions=[Suggestion(recipes[r.id], Match(r.matched, r.missing)) for r in ranked if r.id in recipes],
        unrecognised=[name for name in names if name not in recognised],
    )


async def get_recipe(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID) -> Recipe:
    row = await q.get_recipe(conn, id=recipe_id, user_id=user_id)
    if row is None:
        raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe.")
    return recipe_of(row)


async def recipe_nutrition(
    conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID, servings: int | None
) -> RecipeNutrition:
    recipe = await get_recipe(conn, user_id, recipe_id)
    recipe_servings = recipe.servings or 1
    return await nutrition(conn, recipe.ingredients, recipe_servings, servings or recipe_servings)
