"""This build's version: the installed distribution's, i.e. pyproject.toml's `[project] version`."""

from __future__ import annotations

from importlib.metadata import version

VERSION = version("cookcam-api")
