"""The built-in recipe catalog (app/recipes/data/catalog_*.json: 210 real recipes), decoded strictly.

Loading it into the database, ranking it by ingredient overlap and serving it as the default generator are the
next steps of the cooking core (docs/cooking.md); this module fixes the data's shape and is checked by tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from app.ingredients.units import Unit

DATA_DIR = Path(__file__).parent / "data"
Cuisine = Literal[
    "italian", "mexican", "american", "french", "british", "spanish", "greek", "mediterranean", "middle_eastern",
    "chinese", "japanese", "korean", "thai", "vietnamese", "indian", "caribbean", "african", "fusion",
]  # fmt: skip
DietaryTag = Literal["vegetarian", "vegan", "gluten_free", "dairy_free", "nut_free", "low_carb", "high_protein"]


class RecipeIngredient(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    quantity: Annotated[float, msgspec.Meta(gt=0)] | None
    unit: Unit
    note: str | None = None


class RecipeData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    title: str
    description: str
    cuisine: Cuisine
    meal_type: Literal["breakfast", "lunch", "dinner", "snack", "dessert"]
    difficulty: Literal["easy", "medium", "hard"]
    prep_minutes: Annotated[int, msgspec.Meta(ge=0)]
    cook_minutes: Annotated[int, msgspec.Meta(ge=0)]
    servings: Annotated[int, msgspec.Meta(ge=1, le=50)]
    dietary_tags: list[DietaryTag]
    ingredients: Annotated[list[RecipeIngredient], msgspec.Meta(min_length=1)]
    steps: Annotated[list[str], msgspec.Meta(min_length=1)]


def read_recipes(data_dir: Path = DATA_DIR) -> list[RecipeData]:
    recipes: list[RecipeData] = []
    for path in sorted(data_dir.glob("catalog_*.json")):
        recipes += msgspec.json.decode(path.read_bytes(), type=list[RecipeData])
    return recipes
