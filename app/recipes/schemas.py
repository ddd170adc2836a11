"""Recipe responses (the app's Recipe shape) and the suggestion request."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from app.recipes.catalog import DietaryTag

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class IngredientLine(msgspec.Struct, frozen=True):
    name: str
    quantity: float | None
    unit: str
    note: str | None = None


# Per serving; the upper bounds are what one serving can plausibly hold.
Kcal = Annotated[float, msgspec.Meta(ge=0, le=10_000, description="kcal per serving")]
Grams = Annotated[float, msgspec.Meta(ge=0, le=1_000, description="grams per serving")]
Milligrams = Annotated[float, msgspec.Meta(ge=0, le=50_000, description="milligrams per serving")]


class NutritionInfo(msgspec.Struct, frozen=True):
    """Per serving: calories in kcal, protein, carbs, fat and fiber in grams, sodium in milligrams. The bounds are
    what a serving can plausibly hold: a computation beyond them is answered as unknown (null), never as a number."""

    calories: Kcal
    protein: Grams
    carbs: Grams
    fat: Grams
    fiber: Grams
    sodium: Milligrams


class Recipe(msgspec.Struct, frozen=True):
    id: uuid.UUID
    title: str
    ingredients: list[IngredientLine]
    instructions: list[str]
    created_at: datetime.datetime
    description: str | None = None
    prep_time: int | None = None
    cook_time: int | None = None
    servings: int | None = None
    difficulty: str | None = None
    cuisine_type: str | None = None
    dietary_tags: list[str] = []
    nutrition_info: Annotated[
        NutritionInfo | None,
        msgspec.Meta(
            description="Per serving (kcal; grams; sodium in mg), computed from the ingredient lines with the "
            "ingredient table, as GET /recipes/{id}/nutrition's per_serving; null when too few lines could be "
            "counted or the result is implausible."
        ),
    ] = None
    image_url: Annotated[
        str | None,
        msgspec.Meta(
            description="An https picture of the dish (catalog recipes that have one); never set by a client."
        ),
    ] = None
    source: Literal["catalog", "generated"] = "catalog"
    is_favorited: bool | None = None


class Match(msgspec.Struct, frozen=True):
    # Non-staple ingredients of the recipe the user has, and those they would still need.
    matched: int
    missing: int


class Suggestion(msgspec.Struct, frozen=True):
    recipe: Recipe
    match: Match


class SuggestionsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ingredients: Annotated[list[Name], msgspec.Meta(min_length=1, max_length=50)]
    meal_type: Literal["breakfast", "lunch", "dinner", "snack", "dessert"] | None = None
    dietary_tags: Annotated[list[DietaryTag], msgspec.Meta(max_length=7)] = []
    limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    # Also three AI ideas (a generation, counted like generate-previews) when a provider is configured.
    include_ai: bool = False


class Suggestions(msgspec.Struct, frozen=True):
    suggestions: list[Suggestion]
    # Names the server did not recognise as table ingredients (they could not count towards a match).
    unrecognised: list[str]


class RecipeList(msgspec.Struct, frozen=True):
    recipes: list[Recipe]
