"""Every setting is documented: once in each config/env.example.* and once in docs/operations.md's reference."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from app.settings import Settings, env_name

REPO = Path(__file__).resolve().parents[2]


def all_settings() -> list[str]:
    names = []
    for field in msgspec.structs.fields(Settings):
        if isinstance(field.default_factory, type) and issubclass(field.default_factory, msgspec.Struct):
            names += [env_name(field.name, sub.name) for sub in msgspec.structs.fields(field.default_factory)]
        else:
            names.append(env_name(None, field.name))
    return names


@pytest.mark.parametrize("environment", ["development", "test", "staging", "production"])
def test_each_env_example_lists_every_setting_once(environment: str) -> None:
    text = (REPO / "config" / f"env.example.{environment}").read_text()
    for name in all_settings():
        assert len(re.findall(rf"^#? ?{name}=", text, re.MULTILINE)) == 1, name


def test_the_operations_reference_documents_every_setting() -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    missing = [name for name in all_settings() if f"| `{name}` |" not in text]
    assert missing == []
