"""USDA FoodData Central: refresh the shipped ingredient file's per-100 g figures from the foods it names (fdc_id).

A developer command (`cookcam ingredients refresh [NAME ...]`): it rewrites app/ingredients/data/ingredients.json,
and `cookcam migrate` then loads the changed file everywhere. Nothing is written to the database directly, so the
shipped file stays the one source of the reference data.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec

from app.core.errors import BadGateway, NotFound, ServiceUnavailable
from app.core.http import create_http_client
from app.core.retry import call_with_retries, raise_for_transient
from app.ingredients.catalog import DATA_FILE
from app.settings import Settings

# FoodData Central nutrient numbers (SR Legacy): our per-100 g keys.
NUTRIENT_NUMBERS = {
    "208": "calories",
    "203": "protein_g",
    "205": "carbs_g",
    "204": "fat_g",
    "291": "fiber_g",
    "269": "sugar_g",
    "307": "sodium_mg",
}


class _Nutrient(msgspec.Struct):
    number: str


class _FoodNutrient(msgspec.Struct):
    nutrient: _Nutrient
    amount: float = 0.0


class _Food(msgspec.Struct):
    fdcId: int  # FoodData Central's field names
    description: str
    foodNutrients: list[_FoodNutrient] = []


async def fetch_per_100g(http: httpx.AsyncClient, settings: Settings, fdc_id: int) -> tuple[str, dict[str, float]]:
    """The food's description and per-100 g figures (only the nutrients FDC reports)."""
    if not settings.fdc.api_key:
        raise ServiceUnavailable("FDC_UNCONFIGURED", "Set FDC_API_KEY to refresh ingredients from FoodData Central.")
    url = f"{settings.fdc.base_url.rstrip('/')}/v1/food/{fdc_id}"

    async def attempt() -> httpx.Response:
        response = await http.get(
            url, params={"api_key": settings.fdc.api_key}, timeout=settings.outbound.timeout_seconds
        )
        return raise_for_transient(response)

    response = await call_with_retries(
        "FoodData Central", attempt, settings.outbound, unavailable_code="FDC_UNAVAILABLE"
    )
    if response.status_code == 404:
        raise NotFound("FDC_FOOD_NOT_FOUND", f"FoodData Central has no food {fdc_id}.")
    if response.status_code != 200:
        raise BadGateway("FDC_REFUSED", f"FoodData Central answered {response.status_code} (is FDC_API_KEY valid?).")
    food = msgspec.json.decode(response.content, type=_Food)
    figures = {
        NUTRIENT_NUMBERS[n.nutrient.number]: round(n.amount, 3)
        for n in food.foodNutrients
        if n.nutrient.number in NUTRIENT_NUMBERS
    }
    return food.description, figures


def refresh_file(settings: Settings, names: list[str], path: Path = DATA_FILE) -> list[str]:
    """Update the named ingredients (all with an fdc_id when none are named) in the data file; one line each."""
    items = json.loads(path.read_text())
    unknown = sorted(set(names) - {i["name"] for i in items})
    chosen = [i for i in items if i.get("fdc_id") and (not names or i["name"] in names)]
    lines = [f"{name}: not in the ingredient file" for name in unknown]
    lines += asyncio.run(_refresh(settings, chosen))
    path.write_text(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
    return lines


async def _refresh(settings: Settings, chosen: list[dict[str, Any]]) -> list[str]:
    lines = []
    async with create_http_client() as http:
        for item in chosen:
            description, figures = await fetch_per_100g(http, settings, item["fdc_id"])
            changed = {k: (item["per_100g"].get(k), v) for k, v in figures.items() if item["per_100g"].get(k) != v}
            item["per_100g"].update(figures)
            item["usda_description"] = description
            summary = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items()) or "unchanged"
            lines.append(f"{item['name']} (fdc {item['fdc_id']}): {summary}")
    return lines
