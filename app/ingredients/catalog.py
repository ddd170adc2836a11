"""The ingredient reference data (app/ingredients/data/ingredients.json: USDA SR Legacy figures per 100 g and
household unit weights), decoded strictly and loaded idempotently by `cookcam seed`."""

from __future__ import annotations

from pathlib import Path

import msgspec

from app.db.queries import ingredients as q
from app.db.types import Connection
from app.ingredients.schemas import CategoryName

DATA_FILE = Path(__file__).parent / "data" / "ingredients.json"


class Per100g(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    calories: float
    protein_g: float
    carbs_g: float
    fat_g: float
    fiber_g: float
    sugar_g: float
    sodium_mg: float


class GramsPer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    piece: float | None = None
    cup: float | None = None
    tbsp: float | None = None
    tsp: float | None = None


class IngredientData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    category: CategoryName
    per_100g: Per100g
    aliases: list[str] = []
    usda_description: str | None = None
    fdc_id: int | None = None
    grams_per: GramsPer = GramsPer()
    ml_density: float | None = None
    pantry_staple: bool = False


def read_catalog(path: Path = DATA_FILE) -> list[IngredientData]:
    return msgspec.json.decode(path.read_bytes(), type=list[IngredientData])


async def load_ingredients(conn: Connection, items: list[IngredientData]) -> int:
    """Insert or update every ingredient by name, in one transaction; returns how many."""
    async with conn.transaction():
        for item in items:
            nutrients, grams = item.per_100g, item.grams_per
            await q.upsert_ingredient(
                conn,
                name=item.name,
                aliases=item.aliases,
                category=item.category,
                usda_description=item.usda_description,
                fdc_id=item.fdc_id,
                calories=nutrients.calories,
                protein_g=nutrients.protein_g,
                carbs_g=nutrients.carbs_g,
                fat_g=nutrients.fat_g,
                fiber_g=nutrients.fiber_g,
                sugar_g=nutrients.sugar_g,
                sodium_mg=nutrients.sodium_mg,
                grams_per_piece=grams.piece,
                grams_per_cup=grams.cup,
                grams_per_tbsp=grams.tbsp,
                grams_per_tsp=grams.tsp,
                ml_density=item.ml_density,
                pantry_staple=item.pantry_staple,
            )
    return len(items)
