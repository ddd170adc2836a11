"""Recipes: catalog suggestions ranked by overlap with the user's ingredients, and reading one recipe."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

import msgspec

from app.core.errors import NotFound
from app.db.queries import collections as collections_q
from app.db.queries import recipes as q
from app.db.types import Connection
from app.recipes.nutrition import IngredientFacts, RecipeNutrition, ingredient_facts, nutrition, nutrition_info
from app.recipes.ranking import CatalogRanking
from app.recipes.schemas import IngredientLine, Match, Recipe, Suggestion, Suggestions, SuggestionsRequest

# Every query that selects a whole recipe.
RecipeRow = q.GetRecipeRow | q.GetRecipesRow | collections_q.ListSavedRecipesRow | collections_q.ListOwnRecipesRow


async def recipes_of(conn: Connection, rows: Sequence[RecipeRow]) -> list[Recipe]:
    """Recipe bodies for rows of whole recipes, with their nutrition from one look-up of the ingredient table."""
    lines = [msgspec.convert(row.ingredients, list[IngredientLine]) for row in rows]
    facts = await ingredient_facts(conn, itertools.chain.from_iterable(lines))
    return [_recipe(row, own_lines, facts) for row, own_lines in zip(rows, lines, strict=True)]


def _recipe(row: RecipeRow, lines: list[IngredientLine], facts: IngredientFacts) -> Recipe:
    return Recipe(
        id=row.id,
        title=row.title,
        ingredients=lines,
        instructions=msgspec.convert(row.steps, list[str]),
        created_at=row.created_at,
        description=row.description,
        prep_time=row.prep_minutes,
        cook_time=row.cook_minutes,
        servings=row.servings,
        difficulty=row.difficulty,
        cuisine_type=row.cuisine,
        dietary_tags=row.dietary_tags,
        nutrition_info=nutrition_info(lines, facts, row.servings),
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
    rows = await q.get_recipes(conn, ids=[r.id for r in ranked], user_id=user_id)
    recipes = {recipe.id: recipe for recipe in await recipes_of(conn, rows)}
    return Suggestions(
        suggestions=[Suggestion(recipes[r.id], Match(r.matched, r.missing)) for r in ranked if r.id in recipes],
        unrecognised=[name for name in names if name not in recognised],
    )


async def _visible_recipe(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID) -> q.GetRecipeRow:
    row = await q.get_recipe(conn, id=recipe_id, user_id=user_id)
    if row is None:
        raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe.")
    return row


async def get_recipe(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID) -> Recipe:
    row = await _visible_recipe(conn, user_id, recipe_id)
    [recipe] = await recipes_of(conn, [row])
    return msgspec.structs.replace(recipe, is_favorited=row.is_favorited)


async def recipe_nutrition(
    conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID, servings: int | None
) -> RecipeNutrition:
    row = await _visible_recipe(conn, user_id, recipe_id)
    lines = msgspec.convert(row.ingredients, list[IngredientLine])
    # The same servings rule as nutrition_info (service.recipes_of): a recipe that states none is one serving.
    recipe_servings = row.servings or 1
    return await nutrition(conn, lines, recipe_servings, servings or recipe_servings)
