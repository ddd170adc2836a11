"""Every setting is documented: once in each config/env.example.* and once in docs/operations.md's reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import setting_names

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("environment", ["development", "test", "staging", "production"])
def test_each_env_example_lists_every_setting_once(environment: str) -> None:
    text = (REPO / "config" / f"env.example.{environment}").read_text()
    for name in setting_names():
        assert len(re.findall(rf"^#? ?{name}=", text, re.MULTILINE)) == 1, name


def test_the_operations_reference_documents_every_setting() -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    missing = [name for name in setting_names() if f"| `{name}` |" not in text]
    assert missing == []
