"""Reading the ingredient table: typo-tolerant search, pages by category, categories, one ingredient."""

from __future__ import annotations

from app.core.errors import NotFound
from app.db.queries import ingredients as q
from app.db.types import Connection
from app.ingredients.schemas import (
    Category,
    CategoryName,
    Ingredient,
    IngredientPage,
    IngredientSummary,
    Nutrients,
    SearchHit,
    SearchResults,
)

MIN_SCORE = 0.4  # below this share of matching trigrams a hit is noise (measured on the shipped data)


async def search(conn: Connection, query: str, limit: int) -> SearchResults:
    rows = await q.search_ingredients(conn, query=query, max_rows=limit)
    return SearchResults(
        ingredients=[SearchHit(r.id, r.name, r.category, round(r.score, 3)) for r in rows if r.score >= MIN_SCORE]
    )


async def page(conn: Connection, page: int, limit: int, category: CategoryName | None) -> IngredientPage:
    rows = await q.list_ingredients(conn, category=category, max_rows=limit, skip=(page - 1) * limit)
    return IngredientPage([IngredientSummary(r.id, r.name, r.category) for r in rows], page, limit)


async def categories(conn: Connection) -> list[Category]:
    return [Category(r.category, r.ingredients) for r in await q.ingredient_categories(conn)]


async def ingredient(conn: Connection, ingredient_id: int) -> Ingredient:
    row = await q.get_ingredient(conn, id=ingredient_id)
    if row is None:
        raise NotFound("INGREDIENT_NOT_FOUND", "There is no such ingredient.")
    weights = {
        "piece": row.grams_per_piece,
        "cup": row.grams_per_cup,
        "tbsp": row.grams_per_tbsp,
        "tsp": row.grams_per_tsp,
        "ml_density": row.ml_density,
    }
    return Ingredient(
        id=row.id,
        name=row.name,
        aliases=row.aliases,
        category=row.category,
        nutrition_per_100g=Nutrients(
            row.calories, row.protein_g, row.carbs_g, row.fat_g, row.fiber_g, row.sugar_g, row.sodium_mg
        ),
        unit_weights={k: v for k, v in weights.items() if v is not None},
        pantry_staple=row.pantry_staple,
        source=row.usda_description and f"USDA SR Legacy: {row.usda_description}",
        fdc_id=row.fdc_id,
    )
