"""/api/v1/ingredients: typo-tolerant search, pages by category, one ingredient with its nutrients, categories."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from app.core.errors import NotFound
from app.db.queries import ingredients as q
from app.db.types import Connection
from app.ingredients.schemas import (
    Category,
    Ingredient,
    IngredientPage,
    IngredientSummary,
    Nutrients,
    SearchHit,
    SearchResults,
)
from app.scan.schemas import Category as CategoryName

MIN_SCORE = 0.4  # below this share of matching trigrams a hit is noise (measured on the shipped data)


class IngredientController(Controller):
    """Reference data, the same for everyone: no sign-in needed."""

    path = "/api/v1/ingredients"
    tags = ["ingredients"]

    @get("/search", operation_id="searchIngredients")
    async def search(
        self,
        db: NamedDependency[Connection],
        q_: Annotated[str, QueryParameter(name="q", min_length=1, max_length=80)],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    ) -> SearchResults:
        rows = await q.search_ingredients(db, query=q_, max_rows=limit)
        hits = [SearchHit(r.id, r.name, r.category, round(r.score, 3)) for r in rows if r.score >= MIN_SCORE]
        return SearchResults(ingredients=hits)

    @get("/", operation_id="listIngredients")
    async def list_ingredients(
        self,
        db: NamedDependency[Connection],
        page: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        category: FromQuery[CategoryName | None] = None,
    ) -> IngredientPage:
        rows = await q.list_ingredients(db, category=category, max_rows=limit, skip=(page - 1) * limit)
        return IngredientPage([IngredientSummary(r.id, r.name, r.category) for r in rows], page, limit)

    @get("/categories", operation_id="ingredientCategories")
    async def categories(self, db: NamedDependency[Connection]) -> list[Category]:
        return [Category(r.category, r.ingredients) for r in await q.ingredient_categories(db)]

    @get("/{ingredient_id:int}", operation_id="getIngredient")
    async def get_ingredient(self, db: NamedDependency[Connection], ingredient_id: FromPath[int]) -> Ingredient:
        row = await q.get_ingredient(db, id=ingredient_id)
        if row is None:
            raise NotFound("INGREDIENT_NOT_FOUND", "There is no such ingredient.")
        weights = {
            "piece": row.grams_per_piece,
            "cup": row.grams_per_cup,
            "tbsp": row.grams_per_tbsp,
            "tsp": row.grams_per_tsp,
            "ml_density": row.ml_density,
        }
        nutrients = Nutrients(
            row.calories, row.protein_g, row.carbs_g, row.fat_g, row.fiber_g, row.sugar_g, row.sodium_mg
        )
        return Ingredient(
            id=row.id,
            name=row.name,
            aliases=row.aliases,
            category=row.category,
            nutrition_per_100g=nutrients,
            unit_weights={k: v for k, v in weights.items() if v is not None},
            pantry_staple=row.pantry_staple,
            source=row.usda_description and f"USDA SR Legacy: {row.usda_description}",
            fdc_id=row.fdc_id,
        )
