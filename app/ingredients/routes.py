"""/api/v1/ingredients: typo-tolerant search, pages by category, one ingredient with its nutrients, categories."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from app.db.types import Connection
from app.ingredients import service
from app.ingredients.schemas import Category, CategoryName, Ingredient, IngredientPage, SearchResults


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
        """Ingredients whose names are like `q`, typos forgiven, best matches first."""
        return await service.search(db, q_, limit)

    @get("/", operation_id="listIngredients")
    async def list_ingredients(
        self,
        db: NamedDependency[Connection],
        page: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        category: FromQuery[CategoryName | None] = None,
    ) -> IngredientPage:
        """A page of the catalog, of one category if named."""
        return await service.page(db, page, limit, category)

    @get("/categories", operation_id="ingredientCategories")
    async def categories(self, db: NamedDependency[Connection]) -> list[Category]:
        """The catalog's categories with how many ingredients each holds."""
        return await service.categories(db)

    @get("/{ingredient_id:int}", operation_id="getIngredient")
    async def get_ingredient(self, db: NamedDependency[Connection], ingredient_id: FromPath[int]) -> Ingredient:
        """One ingredient with its nutrients (404 INGREDIENT_NOT_FOUND)."""
        return await service.ingredient(db, ingredient_id)
