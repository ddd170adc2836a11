"""/api/v1/recipes: catalog suggestions for a set of ingredients, and one recipe (catalog or the caller's own)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.auth.service import CurrentUser
from app.core.dependencies import provide_caller
from app.db.types import Connection
from app.recipes import service
from app.recipes.nutrition import RecipeNutrition
from app.recipes.schemas import Recipe, Suggestions, SuggestionsRequest


class RecipeController(Controller):
    path = "/api/v1/recipes"
    tags = ["recipes"]
    dependencies = {"caller": Provide(provide_caller)}

    @post("/suggestions", status_code=200, operation_id="suggestRecipes")
    async def suggestions(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[SuggestionsRequest]
    ) -> Suggestions:
        """Catalog recipes ranked by how many of the given ingredients they use (pantry staples not counted)."""
        return await service.suggest(db, caller.id, data)

    @get("/{recipe_id:uuid}", operation_id="getRecipe")
    async def get_recipe(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], recipe_id: FromPath[uuid.UUID]
    ) -> Recipe:
        return await service.get_recipe(db, caller.id, recipe_id)

    @get("/{recipe_id:uuid}/nutrition", operation_id="recipeNutrition")
    async def nutrition(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        recipe_id: FromPath[uuid.UUID],
        servings: Annotated[int | None, QueryParameter(ge=1, le=50)] = None,
    ) -> RecipeNutrition:
        """Per serving and for `servings` (default: the recipe's), with what could not be counted."""
        return await service.recipe_nutrition(db, caller.id, recipe_id, servings)
