"""The built-in recipe catalog (app/recipes/data/catalog_*.json: 210 real recipes), decoded strictly and loaded
idempotently (by slug) by `cookcam seed`, with each recipe linked to the table ingredients its lines name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from app.db.queries import recipes as q
from app.db.types import Connection
from app.ingredients.units import Unit

DATA_DIR = Path(__file__).parent / "data"
Cuisine = Literal[
    "italian", "mexican", "american", "french", "british", "spanish", "greek", "mediterranean", "middle_eastern",
    "chinese", "japanese", "korean", "thai", "vietnamese", "indian", "caribbean", "african", "fusion",
]  # fmt: skip
DietaryTag = Literal["vegetarian", "vegan", "gluten_free", "dairy_free", "nut_free", "low_carb", "high_protein"]
# A picture of the dish: https only, naming a host, bounded; the shape recipes.image_url is checked for (0027;
# PostgreSQL's `$` is the end of the string, Python's `\Z`).
ImageUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?\Z")]


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
    image_url: ImageUrl | None = None


def read_recipes(data_dir: Path = DATA_DIR) -> list[RecipeData]:
    recipes: list[RecipeData] = []
    for path in sorted(data_dir.glob("catalog_*.json")):
        recipes += msgspec.json.decode(path.read_bytes(), type=list[RecipeData])
    return recipes


async def load_recipes(conn: Connection, recipes: list[RecipeData]) -> int:
    """Insert or update every catalog recipe by slug and relink its ingredients, in one transaction."""
    async with conn.transaction():
        for recipe in recipes:
            recipe_id = await q.upsert_catalog_recipe(
                conn,
                slug=recipe.slug,
                title=recipe.title,
                description=recipe.description,
                cuisine=recipe.cuisine,
                meal_type=recipe.meal_type,
                difficulty=recipe.difficulty,
                prep_minutes=recipe.prep_minutes,
                cook_minutes=recipe.cook_minutes,
                servings=recipe.servings,
                dietary_tags=list(recipe.dietary_tags),
                ingredients=recipe.ingredients,
                steps=recipe.steps,
                image_url=recipe.image_url,
            )
            assert recipe_id is not None  # insert ... returning
            await q.unlink_recipe_ingredients(conn, recipe_id=recipe_id)
            await q.link_recipe_ingredients(conn, recipe_id=recipe_id, names=[i.name for i in recipe.ingredients])
    return len(recipes)
