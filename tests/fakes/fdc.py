"""A loopback fake of USDA FoodData Central's `GET /v1/food/{fdcId}?api_key=` for SR Legacy foods: nutrients as
`foodNutrients[{nutrient{number, name, unitName}, amount}]`, 403 for a missing or wrong key (api.data.gov's
behaviour), 404 for an unknown food."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import QuietHandler, serving

API_KEY = "fdc-test-key"
UNITS = {"208": ("Energy", "kcal"), "203": ("Protein", "g"), "205": ("Carbohydrate, by difference", "g"),
         "204": ("Total lipid (fat)", "g"), "291": ("Fiber, total dietary", "g"),
         "269": ("Sugars, total", "g"), "307": ("Sodium, Na", "mg")}  # fmt: skip


@dataclass
class FakeFdc:
    base_url: str = ""
    foods: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add_food(self, fdc_id: int, description: str, **amounts: float) -> None:
        """amounts by nutrient number, e.g. add_food(1, "Butter", **{"208": 717, "204": 81.1})."""
        nutrients = [
            {"nutrient": {"number": number, "name": UNITS[number][0], "unitName": UNITS[number][1]}, "amount": amount}
            for number, amount in amounts.items()
        ]
        self.foods[fdc_id] = {"fdcId": fdc_id, "description": description, "dataType": "SR Legacy",
                              "foodNutrients": nutrients}  # fmt: skip


@contextmanager
def fake_fdc() -> Iterator[FakeFdc]:
    state = FakeFdc()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(url.path)
            if parse_qs(url.query).get("api_key") != [API_KEY]:
                self.reply(403, json.dumps({"error": {"code": "API_KEY_INVALID"}}).encode())
                return
            food_id = url.path.rsplit("/", 1)[1]
            food = state.foods.get(int(food_id)) if food_id.isdigit() else None
            if food is None:
                self.reply(404, b'{"error": "Not Found"}')
                return
            self.reply(200, json.dumps(food).encode())

    with serving(Handler) as base_url:
        state.base_url = base_url
        yield state
