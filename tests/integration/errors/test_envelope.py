"""Every error, whoever raises it, answers in the one envelope with the right status."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import HttpSettings
from tests.conftest import make_settings

SIGNIN = "/api/v1/auth/signin"


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "select " not in response.text.lower()
    return body


async def test_unknown_route(client) -> None:
    assert_envelope(await client.get("/api/v1/nowhere"), 404, "NOT_FOUND")


async def test_wrong_method(client) -> None:
    assert_envelope(await client.get(SIGNIN), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json(client) -> None:
    response = await client.post(SIGNIN, content=b'{"email": "a@b.c",', headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "MALFORMED_JSON")


async def test_wrong_type_names_the_field(client) -> None:
    body = assert_envelope(await client.post(SIGNIN, json={"email": 42, "password": "x"}), 422, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "email"


async def test_missing_field_names_the_field(client) -> None:
    body = assert_envelope(await client.post(SIGNIN, json={"email": "a@example.com"}), 422, "VALIDATION_ERROR")
    assert any("password" in (d.get("field") or "") or "password" in d["message"] for d in body["details"])


async def test_wrong_content_type(client) -> None:
    response = await client.post(SIGNIN, content=b"email=a@b.c", headers={"Content-Type": "text/plain"})
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_oversized_body_is_413(database_url) -> None:
    settings = msgspec.structs.replace(make_settings(database_url), http=HttpSettings(max_body_bytes=1024))
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.post(
            SIGNIN, content=b'{"email": "' + b"a" * 4096 + b'"}', headers={"Content-Type": "application/json"}
        )
        assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


async def test_default_body_limit_is_10_mb(client) -> None:
    response = await client.post(
        SIGNIN, content=b" " * (10 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


async def test_request_id_is_echoed_or_made(client) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "bad id\r\nwith junk"})
    assert made.headers["x-request-id"] != "bad id\r\nwith junk"
    assert len(made.headers["x-request-id"]) == 32


async def test_security_headers(client) -> None:
    response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # only staging/production


async def test_cors_allow_list(database_url) -> None:
    settings = msgspec.structs.replace(make_settings(database_url), cors_origin=("https://app.cookcam.example",))
    async with AsyncTestClient(app=create_app(settings)) as client:
        allowed = await client.options(
            SIGNIN, headers={"Origin": "https://app.cookcam.example", "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers.get("access-control-allow-origin") == "https://app.cookcam.example"
        denied = await client.options(
            SIGNIN, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert denied.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_empty_and_non_object_bodies(client) -> None:
    empty = await client.post(SIGNIN, content=b"", headers={"Content-Type": "application/json"})
    body = assert_envelope(empty, 422, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "body"
    array = await client.post(SIGNIN, json=[1, 2])
    assert assert_envelope(array, 422, "VALIDATION_ERROR")["details"][0]["field"] == "body"


async def test_unknown_field_is_named(client) -> None:
    response = await client.post(SIGNIN, json={"email": "a@example.com", "password": "x", "admin": True})
    assert assert_envelope(response, 422, "VALIDATION_ERROR")["details"][0]["field"] == "admin"
