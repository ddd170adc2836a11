"""/api/v1/recipes: catalog suggestions, one recipe (catalog or the caller's own) and its nutrition, the caller's own
recipes, saves, favourites and ratings."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.db.types import Connection
from app.recipes import collections, generation, service
from app.recipes.collections import (
    FavoriteRequest,
    FavoriteState,
    RateRequest,
    RatingState,
    SaveRequest,
    SaveState,
)
from app.recipes.generation import (
    DetailedRequest,
    DetailedResponse,
    PreviewsRequest,
    PreviewsResponse,
    SuggestionsAndIdeas,
    VariationsRequest,
)
from app.recipes.nutrition import RecipeNutrition
from app.recipes.schemas import Recipe, RecipeList, SuggestionsRequest
from app.settings import Settings

# Generation waits on the AI provider: no pooled connection is held meanwhile (see provide_caller_briefly).
BRIEF_CALLER = {"caller": Provide(provide_caller_briefly)}
Limit = Annotated[int, QueryParameter(ge=1, le=50)]
Offset = Annotated[int, QueryParameter(ge=0, le=100_000)]


class RecipeController(Controller):
    path = "/api/v1/recipes"
    tags = ["recipes"]
    dependencies = {
        "caller": Provide(provide_caller),
    }

    @post("/suggestions", status_code=200, operation_id="suggestRecipes", dependencies=BRIEF_CALLER)
    async def suggestions(
        self,
        recipe_sources: NamedDependency[generation.RecipeSources],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[SuggestionsRequest],
    ) -> SuggestionsAndIdeas:
        """Catalog recipes ranked by how many of the given ingredients they use (pantry staples not counted), and
        with `include_ai` three AI ideas beside them."""
        return await generation.suggestions(recipe_sources, caller.id, data)

    @get("/{recipe_id:uuid}", operation_id="getRecipe")
    async def get_recipe(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], recipe_id: FromPath[uuid.UUID]
    ) -> Recipe:
        """One recipe of the catalog or of the caller's own (404 RECIPE_NOT_FOUND for any other)."""
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

    @get("/", operation_id="listRecipes")
    async def list_own(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> RecipeList:
        """The caller's own recipes, newest first."""
        return RecipeList(await collections.own_recipes(db, caller.id, limit=limit, offset=offset))

    @delete("/{recipe_id:uuid}", status_code=204, operation_id="deleteRecipe")
    async def delete_recipe(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], recipe_id: FromPath[uuid.UUID]
    ) -> None:
        """Only the caller's own recipes; catalog recipes and other users' are not found."""
        await collections.delete_own(db, caller.id, recipe_id)

    @get("/saved/my", operation_id="savedRecipes")
    async def saved(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> RecipeList:
        """The recipes the caller saved, a page at a time."""
        return RecipeList(await collections.saved_recipes(db, caller.id, limit=limit, offset=offset))

    @post("/{recipe_id:uuid}/save", status_code=200, operation_id="saveRecipe")
    async def save(
        self,
        settings: NamedDependency[Settings],
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        recipe_id: FromPath[uuid.UUID],
        data: JSONBody[SaveRequest | None] = None,
    ) -> SaveState:
        """`{"saved": true|false}` sets it (idempotent); no body toggles it."""
        return await collections.set_saved(db, settings, caller.id, recipe_id, data.saved if data else None)

    @post("/{recipe_id:uuid}/favorite", status_code=200, operation_id="favoriteRecipe")
    async def favorite(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        recipe_id: FromPath[uuid.UUID],
        data: JSONBody[FavoriteRequest | None] = None,
    ) -> FavoriteState:
        """`{"favorited": true|false}` sets it (idempotent); no body toggles it."""
        return await collections.set_favorite(db, caller.id, recipe_id, data.favorited if data else None)

    @post("/{recipe_id:uuid}/rate", status_code=200, operation_id="rateRecipe")
    async def rate(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        recipe_id: FromPath[uuid.UUID],
        data: JSONBody[RateRequest],
    ) -> RatingState:
        """One rating per user and recipe (an upsert)."""
        return await collections.rate(db, caller.id, recipe_id, data.rating)

    @post("/generate-previews", status_code=200, operation_id="generatePreviews", dependencies=BRIEF_CALLER)
    async def generate_previews(
        self,
        recipe_sources: NamedDependency[generation.RecipeSources],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[PreviewsRequest],
    ) -> PreviewsResponse:
        """Three ideas: generated by the AI provider (cached), or from the catalog when none is configured."""
        return await generation.generate_previews(recipe_sources, caller.id, data)

    @post("/generate-detailed", status_code=200, operation_id="generateDetailed", dependencies=BRIEF_CALLER)
    async def generate_detailed(
        self,
        recipe_sources: NamedDependency[generation.RecipeSources],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[DetailedRequest],
    ) -> DetailedResponse:
        """The full recipe for a preview the caller's own session offered; written out once per preview (again:
        the same recipe). 403 OWN_RECIPES_LIMIT_REACHED when the caller keeps RECIPES_OWN_MAX recipes already; 404
        SESSION_NOT_FOUND or PREVIEW_NOT_FOUND for a session or preview that is not the caller's."""
        return await generation.generate_detailed(recipe_sources, caller.id, data)

    @post(["/generate-full", "/generate"], status_code=200, dependencies=BRIEF_CALLER)
    async def generate_full(
        self,
        recipe_sources: NamedDependency[generation.RecipeSources],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[PreviewsRequest],
    ) -> DetailedResponse:
        """The older one-step flows: the best idea for these ingredients, written out at once. 404 NO_RECIPE_FOUND
        when no idea uses them."""
        return await generation.generate_full(recipe_sources, caller.id, data)

    @post("/{recipe_id:uuid}/variations", status_code=200, operation_id="recipeVariations", dependencies=BRIEF_CALLER)
    async def variations(
        self,
        recipe_sources: NamedDependency[generation.RecipeSources],
        caller: NamedDependency[CurrentUser],
        recipe_id: FromPath[uuid.UUID],
        data: JSONBody[VariationsRequest | None] = None,
    ) -> PreviewsResponse:
        """Up to five ideas in the spirit of a recipe, as a new session for generate-detailed."""
        return await generation.variations(
            recipe_sources, caller.id, recipe_id=recipe_id, request=data or VariationsRequest()
        )
