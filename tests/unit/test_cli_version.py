from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.cli import main

VERSION = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["version"]


def test_cookcam_version_prints_the_project_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"cookcam {VERSION}\n"
