"""/schema/openapi.json describes the API as it behaves (issue 16, item 4): the bearer scheme exactly on the
operations that authenticate their caller, the error envelope for every error status, descriptions from the
handlers' docstrings, the release's version; and its viewer at /schema loads nothing from elsewhere (item 5)."""

from __future__ import annotations

import inspect
import re
import uuid
from typing import Any

from app.auth.routes import AuthController
from app.core.edge import DOCS_CSP
from app.core.version import VERSION
from app.web.openapi import ASSETS_PATH

ENVELOPE = {"$ref": "#/components/schemas/ErrorBody"}
BEARER = {"bearerAuth": []}
# The codes a missing bearer token answers with (app/core/identity.py).
NO_TOKEN = "UNAUTHENTICATED"


async def _document(client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


async def test_the_document_names_the_release_and_the_bearer_scheme(client) -> None:
    document = await _document(client)
    assert document["info"]["version"] == VERSION
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    envelope = document["components"]["schemas"]["ErrorBody"]
    assert set(envelope["properties"]) == {"code", "message", "request_id", "details"}
    assert sorted(envelope["required"]) == ["code", "message", "request_id"]


async def test_bodies_that_refuse_unknown_fields_say_so(client) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    assert schemas["SigninRequest"]["additionalProperties"] is False  # forbid_unknown_fields=True
    assert "additionalProperties" not in schemas["User"]  # an answer: a client ignores fields it does not know


async def test_every_error_status_answers_the_envelope(client) -> None:
    document = await _document(client)
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/ready", "503"):  # /ready's 503 is its own Readiness body
                continue
            assert response["content"]["application/json"]["schema"] == ENVELOPE, (method, path, status)


async def test_operations_document_the_statuses_of_their_inputs_and_dependencies(client) -> None:
    operations = {(m, p): op for m, p, op in _operations(await _document(client))}

    def statuses(method: str, path: str) -> set[str]:
        return set(operations[(method, path)]["responses"])

    # A JSON body, rate limits, the database, the docstring's own codes.
    assert {"400", "409", "413", "415", "422", "429", "503"} <= statuses("POST", "/api/v1/auth/signup")
    assert "401" not in statuses("POST", "/api/v1/auth/signup")
    # A path parameter: 404; a creator-only route: its provider's 403.
    assert {"401", "403", "404"} - statuses("GET", "/api/v1/users/{user_id}") == {"403"}
    assert "403" in statuses("GET", "/api/v1/subscription/creator/balance")
    # A group of long-lived parts (app/web/services.py) stands for its parts: the AI provider's and the
    # database's statuses through RecipeSources, the database's through Billing.
    assert {"429", "502", "503"} <= statuses("POST", "/api/v1/recipes/generate-previews")
    assert "503" in statuses("POST", "/api/v1/subscription/webhook/stripe")
    # Nothing but the process: no error at all.
    assert statuses("GET", "/health") == {"200"}
    described = operations[("POST", "/api/v1/auth/signin")]["responses"]["401"]["description"]
    assert "INVALID_CREDENTIALS" in described


async def test_descriptions_are_the_handlers_docstrings(client) -> None:
    operations = {(m, p): op for m, p, op in _operations(await _document(client))}
    signin = operations[("POST", "/api/v1/auth/signin")]
    assert signin["description"] == inspect.cleandoc(AuthController.signin.fn.__doc__ or "")
    assert [label for label, operation in operations.items() if not operation.get("description")] == []


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_exactly_the_operations_that_authenticate_carry_the_bearer_scheme(client) -> None:
    """Each operation is called without a token (a body, where it takes one, of `{}`; no query): those that document
    the bearer scheme answer 401 UNAUTHENTICATED, the others never do (a webhook may refuse its own kind of
    credential, under another code). The body and the query are decoded before anyone is asked who calls
    (app/core/json_body.py), so an operation whose body `{}` or missing query does not satisfy may answer its 400
    or 422 first."""
    document = await _document(client)
    protected, public = [], []
    for method, path, operation in _operations(document):
        body = {"json": {}} if "requestBody" in operation else {}
        response = await client.request(method, _concrete(path), **body)
        answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        code = answer.get("code") if isinstance(answer, dict) else None
        required_query = any(p["in"] == "query" and p.get("required") for p in operation.get("parameters", []))
        refused = (bool(body) or required_query) and response.status_code in (400, 422)
        outcome = "input refused" if refused else (response.status_code, code)
        (protected if operation.get("security") == [BEARER] else public).append((method, path, outcome))
    assert [p for p in protected if p[2] not in ((401, NO_TOKEN), "input refused")] == []
    assert sum(p[2] == (401, NO_TOKEN) for p in protected) > 40
    assert len(public) > 15 and [p for p in public if p[2] != "input refused" and p[2][1] == NO_TOKEN] == []


async def test_the_viewer_is_served_by_the_app(client) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_CSP[1].decode()
    html = page.text
    # Every script, stylesheet and icon the page loads is the app's own (the inline document may name other sites).
    loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert len(loaded) == 4 and all(url.startswith(f"/schema{ASSETS_PATH}/") for url in loaded), loaded
    for name, media_type in [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
    ]:
        url = f"/schema{ASSETS_PATH}/{name}"
        assert url in html
        asset = await client.get(url)
        assert asset.status_code == 200 and asset.headers["content-type"] == media_type, url
        assert asset.headers.get_list("cache-control") == ["public, max-age=31536000, immutable"]
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 500
    missing = await client.get(f"/schema{ASSETS_PATH}/swagger-editor-bundle.js")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
