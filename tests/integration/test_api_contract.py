"""The shipped mobile app's contract (../shared/api-contract.md), read from the document itself: every method and
path it names is served, and the bodies whose shapes it defines carry every field it names. A path or field that
disappears fails here.

The document is read from shared/ beside the checkout when it is there (as in CI), else from the copy in
tests/contract/, so the suite also runs in a clone on its own; the copy must then equal shared/'s."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from app.ingredients.catalog import load_ingredients, read_catalog
from tests.support import bearer, sign_up

REPO = Path(__file__).resolve().parents[2]
SHARED_CONTRACT = REPO.parent / "shared" / "api-contract.md"
CONTRACT_COPY = REPO / "tests" / "contract" / "api-contract.md"
_CALL = re.compile(r"\b((?:GET|POST|PUT|DELETE|PATCH)(?:/(?:GET|POST|PUT|DELETE|PATCH))*)\s+(/[A-Za-z0-9_\-/{}]*)")
_SHAPE = re.compile(r"^(\w+) = \{(.*?)\}$", re.MULTILINE | re.DOTALL)
_UNPREFIXED = ("/health", "/ready", "/metrics", "/schema")


def _contract() -> str:
    return (SHARED_CONTRACT if SHARED_CONTRACT.exists() else CONTRACT_COPY).read_text()


def _template(path: str) -> str:
    """A path with its parameters unnamed: /recipes/{id} and /recipes/{recipe_id:uuid} are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def contract_calls(text: str) -> set[tuple[str, str]]:
    calls = set()
    for methods, path in _CALL.findall(text):
        full = path if path.startswith((*_UNPREFIXED, "/api/v1")) else "/api/v1" + path
        calls |= {(method, _template(full)) for method in methods.split("/")}
    return calls


def contract_fields(text: str) -> dict[str, set[str]]:
    """Each `Name = {field, field?, list?[], nested{...}, enum a|b}` definition's top-level field names."""
    shapes = {}
    for name, body in _SHAPE.findall(text):
        depth, fields, current = 0, set(), ""
        for char in body + ",":
            depth += char == "{"
            depth -= char == "}"
            if char == "," and depth == 0:
                fields.add(re.match(r"\s*(\w+)", current).group(1))  # type: ignore[union-attr]
                current = ""
            else:
                current += char
        shapes[name] = fields
    return shapes


def contract_nested_fields(text: str, shape: str, field: str) -> set[str]:
    """The names inside one field's braces in a definition: `nutrition_info?{calories, protein, ...}`."""
    body = dict(_SHAPE.findall(text))[shape]
    nested = re.search(rf"\b{field}\??\{{([^{{}}]*)\}}", body)
    assert nested is not None, f"{shape}.{field} names no fields"
    return {name.strip() for name in nested.group(1).split(",")}


def test_the_copy_of_the_contract_is_current() -> None:
    """Where shared/ is beside the checkout, the copy the suite falls back on says the same."""
    if SHARED_CONTRACT.exists():
        assert CONTRACT_COPY.read_text() == SHARED_CONTRACT.read_text(), "copy ../shared/api-contract.md again"
    assert contract_calls(CONTRACT_COPY.read_text())


def test_the_contract_is_read_as_expected() -> None:
    """Guards the parsing above: a change of the document's style must not make the other tests vacuous."""
    text = _contract()
    calls = contract_calls(text)
    assert len(calls) >= 70
    assert {("GET", "/api/v1/auth/me"), ("PUT", "/api/v1/users/preferences"), ("GET", "/health")} <= calls
    assert {"User", "AuthResponse", "GamificationProfile", "UserSubscription", "Recipe"} <= set(contract_fields(text))
    assert "is_creator" in contract_fields(text)["User"]
    assert {"nutrition_info", "image_url", "is_favorited"} <= contract_fields(text)["Recipe"]
    assert contract_nested_fields(text, "Recipe", "nutrition_info") == {
        "calories",
        "protein",
        "carbs",
        "fat",
        "fiber",
        "sodium",
    }


def test_every_method_and_path_of_the_contract_is_served(client) -> None:
    served = {
        (method, _template(route.path))
        for route in client.app.routes
        for method in (getattr(route, "methods", None) or ())
    }
    assert sorted(contract_calls(_contract()) - served) == []


async def test_bodies_carry_every_field_the_contract_names(client) -> None:
    shapes = contract_fields(_contract())
    auth = await sign_up(client)
    assert shapes["AuthResponse"] <= set(auth)
    headers = bearer(auth)
    bodies = {
        "User": ["/api/v1/auth/me", "/api/v1/users/profile"],
        "UserSubscription": ["/api/v1/users/subscription"],
        "GamificationProfile": ["/api/v1/gamification/progress"],
    }
    for shape, paths in bodies.items():
        for path in paths:
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            assert sorted(shapes[shape] - set(response.json())) == [], path
    assert shapes["User"] <= set(auth["user"])


async def test_recipe_bodies_carry_every_field_the_contract_names(client, db) -> None:
    """GET /recipes/{id}, the caller's own list and the saved list, for a recipe whose nutrition is known (so that
    nutrition_info is an object whose keys can be checked, not null)."""
    text = _contract()
    recipe_fields = contract_fields(text)["Recipe"]
    nutrition_fields = contract_nested_fields(text, "Recipe", "nutrition_info")
    await load_ingredients(db, read_catalog())
    auth = await sign_up(client)
    headers = bearer(auth)
    recipe_id = await db.fetchval(
        "insert into recipes (user_id, title, servings, ingredients, steps) values ($1, 'Rice', 2, $2, $3)"
        " returning id",
        uuid.UUID(auth["user"]["id"]),
        [{"name": "rice", "quantity": 150, "unit": "g"}, {"name": "egg", "quantity": 2, "unit": "piece"}],
        ["Cook the rice.", "Fry the eggs."],
    )
    assert (await client.post(f"/api/v1/recipes/{recipe_id}/save", headers=headers)).status_code == 200
    one = await client.get(f"/api/v1/recipes/{recipe_id}", headers=headers)
    assert one.status_code == 200, one.text
    bodies = [one.json()]
    for path in ("/api/v1/recipes", "/api/v1/recipes/saved/my"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        bodies += response.json()["recipes"]
    assert len(bodies) == 3
    for body in bodies:
        assert sorted(recipe_fields - set(body)) == []
        assert isinstance(body["nutrition_info"], dict), body
        assert sorted(nutrition_fields - set(body["nutrition_info"])) == []
