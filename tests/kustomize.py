"""Renders deploy/kubernetes the way `kubectl kustomize` does, for the few kustomization fields it uses.

No kustomize binary comes from the registries the project installs from, so the tests render with this instead.
It supports local resource files, `labels` (pairs added to each resource's metadata.labels only: kustomize's
default, includeSelectors and includeTemplates false) and `images` (name -> newName:newTag on every container and
init container). Anything else in the kustomization raises, so a field it does not know is never silently ignored.
Checked against `kubectl kustomize` (kustomize v5.5.0): the same resources, field for field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "labels", "images"})


class UnsupportedKustomization(Exception):
    pass


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    _refuse_unknown("kustomization field", set(kustomization) - SUPPORTED_FIELDS)
    resources: list[dict[str, Any]] = []
    for name in kustomization.get("resources", []):
        path = directory / name
        if not path.is_file():
            raise UnsupportedKustomization(f"resource {name!r} is not a file here (bases and URLs are unsupported)")
        resources += [document for document in yaml.safe_load_all(path.read_text()) if document]
    for entry in kustomization.get("labels", []):
        _refuse_unknown("labels option", set(entry) - {"pairs"})
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for image in kustomization.get("images", []):
        _refuse_unknown("images option", set(image) - {"name", "newName", "newTag"})
        for resource in resources:
            for container in _containers(resource):
                if container["image"] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return resources


def _refuse_unknown(what: str, names: set[str]) -> None:
    if names:
        raise UnsupportedKustomization(f"unsupported {what}: {', '.join(sorted(names))}")


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers"):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)
