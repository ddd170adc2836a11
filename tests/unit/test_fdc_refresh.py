"""`cookcam ingredients refresh`: the shipped ingredient file's figures updated from FoodData Central (a loopback
fake speaking its SR Legacy format), other entries untouched, and clear errors without a key or with a bad one."""

from __future__ import annotations

import json
import shutil

import msgspec
import pytest

from app.core.errors import BadGateway, ServiceUnavailable
from app.ingredients.catalog import DATA_FILE, read_catalog
from app.ingredients.fdc import refresh_file
from app.settings import FdcSettings, OutboundSettings, load_settings
from tests.fakes.fdc import API_KEY, fake_fdc

FAST = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


def test_refresh_updates_only_the_named_foods(tmp_path) -> None:
    data = tmp_path / "ingredients.json"
    shutil.copy(DATA_FILE, data)
    before = {item["name"]: item for item in json.loads(data.read_text())}
    sugar_id = before["sugar"]["fdc_id"]
    with fake_fdc() as fdc:
        fdc.add_food(sugar_id, "Sugars, granulated", **{"208": 387.0, "205": 99.98, "269": 99.8, "307": 1.0})
        settings = msgspec.structs.replace(
            load_settings({"APP_ENV": "development"}),
            fdc=FdcSettings(api_key=API_KEY, base_url=fdc.base_url),
            outbound=FAST,
        )
        lines = refresh_file(settings, ["sugar", "unobtainium"], data)
    assert lines[0] == "unobtainium: not in the ingredient file"
    assert lines[1].startswith(f"sugar (fdc {sugar_id}): ")
    after = {item["name"]: item for item in json.loads(data.read_text())}
    assert after["sugar"]["per_100g"]["calories"] == 387.0
    assert after["sugar"]["usda_description"] == "Sugars, granulated"
    assert after["sugar"]["per_100g"]["fat_g"] == before["sugar"]["per_100g"]["fat_g"]  # not reported: kept
    assert {k: v for k, v in after.items() if k != "sugar"} == {k: v for k, v in before.items() if k != "sugar"}
    assert len(read_catalog(data)) == len(before)  # still a valid data file


def test_refresh_needs_a_valid_key(tmp_path) -> None:
    data = tmp_path / "ingredients.json"
    shutil.copy(DATA_FILE, data)
    with pytest.raises(ServiceUnavailable):
        refresh_file(load_settings({"APP_ENV": "development"}), ["sugar"], data)
    with fake_fdc() as fdc:
        wrong = msgspec.structs.replace(
            load_settings({"APP_ENV": "development"}), fdc=FdcSettings(api_key="nope", base_url=fdc.base_url)
        )
        with pytest.raises(BadGateway):
            refresh_file(wrong, ["sugar"], data)
