"""Ingredient responses (/api/v1/ingredients)."""

from __future__ import annotations

from typing import Literal

import msgspec

# The categories of the ingredient table, which scans use too.
CategoryName = Literal[
    "vegetable",
    "fruit",
    "protein",
    "dairy",
    "grain",
    "legume",
    "nut_seed",
    "herb_spice",
    "oil_fat",
    "condiment",
    "baking",
    "beverage",
    "other",
]


class IngredientSummary(msgspec.Struct, frozen=True):
    id: int
    name: str
    category: str


class SearchHit(msgspec.Struct, frozen=True):
    id: int
    name: str
    category: str
    # Share of the query's trigrams found in the name or aliases, 0..1.
    score: float


class Nutrients(msgspec.Struct, frozen=True):
    calories: float
    protein: float
    carbs: float
    fat: float
    fiber: float
    sugar: float
    sodium: float


class Ingredient(msgspec.Struct, frozen=True):
    id: int
    name: str
    aliases: list[str]
    category: str
    # Per 100 g; sodium in mg, the rest in g, calories in kcal.
    nutrition_per_100g: Nutrients
    # Grams in one piece, cup, tablespoon or teaspoon where known; grams per millilitre for liquids.
    unit_weights: dict[str, float]
    pantry_staple: bool
    source: str | None
    fdc_id: int | None


class Category(msgspec.Struct, frozen=True):
    category: str
    ingredients: int


class SearchResults(msgspec.Struct, frozen=True):
    ingredients: list[SearchHit]


class IngredientPage(msgspec.Struct, frozen=True):
    ingredients: list[IngredientSummary]
    page: int
    limit: int
