"""Recipe nutrition from the ingredient table: each line converted to grams (app/ingredients/units.py) and summed,
with a report of what could not be counted instead of silent guesses. The one source of per-serving nutrition:
GET /recipes/{id}/nutrition reports it in full, and every Recipe body carries its per-serving part as
`nutrition_info` when enough of the recipe could be counted (docs/cooking.md, "nutrition_info")."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec

from app.db.queries import recipes as q
from app.db.types import Connection
from app.ingredients.units import UnitWeights, to_grams
from app.recipes.schemas import IngredientLine, NutritionInfo

log = logging.getLogger("cookcam.recipes")
NUTRIENTS = ("calories", "protein", "carbs", "fat", "fiber", "sugar", "sodium")
# nutrition_info is given when at least this share of the lines with a quantity was counted: below it, the sum
# of what was counted would pass for the recipe's nutrition while missing much of it.
MIN_COVERAGE = 0.75
# The table's rows by ingredient name and by each alias.
IngredientFacts = dict[str, q.NutritionFactsRow]


class NutritionValues(msgspec.Struct, frozen=True):
    # kcal; grams; sodium in mg.
    calories: float
    protein: float
    carbs: float
    fat: float
    fiber: float
    sugar: float
    sodium: float


class MatchQuality(msgspec.Struct, frozen=True):
    lines: int
    # Lines counted: their ingredient is in the table and their quantity converts to grams.
    counted: int
    # Share of the lines with a quantity that were counted (to-taste lines are not expected to count).
    coverage: float
    unmatched: list[str]
    unconvertible: list[str]
    to_taste: list[str]


class RecipeNutrition(msgspec.Struct, frozen=True):
    servings: int
    per_serving: NutritionValues
    total: NutritionValues
    match_quality: MatchQuality


async def ingredient_facts(conn: Connection, lines: Iterable[IngredientLine]) -> IngredientFacts:
    """What nutrition needs of the table ingredients these lines (of one recipe or many) name: one query."""
    names = sorted({line.name for line in lines})
    if not names:
        return {}
    return {name: row for row in await q.nutrition_facts(conn, names=names) for name in (row.name, *row.aliases)}


async def nutrition(
    conn: Connection, lines: list[IngredientLine], recipe_servings: int, servings: int
) -> RecipeNutrition:
    return count_nutrition(lines, await ingredient_facts(conn, lines), recipe_servings, servings)


def nutrition_info(lines: list[IngredientLine], facts: IngredientFacts, servings: int | None) -> NutritionInfo | None:
    """A Recipe body's nutrition_info: the per-serving figures GET /recipes/{id}/nutrition reports, or None when
    too little of the recipe could be counted or a figure is beyond what a serving can hold (NutritionInfo's
    bounds: a stored recipe with absurd quantities answers unknown, not an absurd number)."""
    report = count_nutrition(lines, facts, servings or 1, servings or 1)
    quality = report.match_quality
    if quality.counted == 0 or quality.coverage < MIN_COVERAGE:
        return None
    try:
        return msgspec.convert(msgspec.structs.asdict(report.per_serving), NutritionInfo)
    except msgspec.ValidationError as exc:
        log.warning("Recipe nutrition out of bounds, answered as unknown: %s", exc)
        return None


def count_nutrition(
    lines: list[IngredientLine], facts: IngredientFacts, recipe_servings: int, servings: int
) -> RecipeNutrition:
    totals = dict.fromkeys(NUTRIENTS, 0.0)
    unmatched, unconvertible, to_taste = [], [], []
    counted = 0
    for line in lines:
        fact = facts.get(line.name)
        if line.unit == "to_taste" or line.quantity is None:
            to_taste.append(line.name)
            continue
        if fact is None:
            unmatched.append(line.name)
            continue
        weights = UnitWeights(
            fact.grams_per_piece, fact.grams_per_cup, fact.grams_per_tbsp, fact.grams_per_tsp, fact.ml_density
        )
        grams = to_grams(line.quantity, line.unit, weights).grams
        if grams is None:
            unconvertible.append(f"{_amount(line.quantity)} {line.unit} {line.name}")
            continue
        counted += 1
        share = grams / 100
        per_100g = (fact.calories, fact.protein_g, fact.carbs_g, fact.fat_g, fact.fiber_g, fact.sugar_g, fact.sodium_mg)
        for key, value in zip(NUTRIENTS, per_100g, strict=True):
            totals[key] += value * share
    measured = len(lines) - len(to_taste)
    scale = servings / max(recipe_servings, 1)
    return RecipeNutrition(
        servings=servings,
        per_serving=_values(totals, 1 / max(recipe_servings, 1)),
        total=_values(totals, scale),
        match_quality=MatchQuality(
            lines=len(lines),
            counted=counted,
            coverage=round(counted / measured, 3) if measured else 1.0,
            unmatched=unmatched,
            unconvertible=unconvertible,
            to_taste=to_taste,
        ),
    )


def _values(totals: dict[str, float], factor: float) -> NutritionValues:
    return NutritionValues(**{key: round(value * factor, 1) for key, value in totals.items()})


def _amount(quantity: float) -> str:
    return f"{quantity:g}"
