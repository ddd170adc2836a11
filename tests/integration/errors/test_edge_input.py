"""Input at the edge (issue 15, items 1, 6, 7, 18): made-up methods do not become metric labels; NUL characters,
invalid UTF-8 and out-of-range numbers answer 4xx, never 500; bodies decode strictly as JSON types; error details
echo at most a bounded piece of what the client sent."""

from __future__ import annotations

import uuid

import pytest

from app.core.errors import DETAIL_MAX_CHARS
from tests.integration.errors.test_envelope import assert_envelope
from tests.support import bearer, new_email, sign_up

SIGNUP = "/api/v1/auth/signup"
JSON = {"Content-Type": "application/json"}


async def test_made_up_methods_are_one_metric_label(client) -> None:
    made_up = "X" * 3000
    response = await client.request(made_up, "/health")
    assert response.status_code == 405
    metrics = (await client.get("/metrics")).text
    assert made_up not in metrics
    assert any(line.startswith('cookcam_http_requests_total{method="OTHER"') for line in metrics.splitlines())


@pytest.mark.parametrize(
    ("path", "needs_user"),
    [
        ("/api/v1/ingredients/search?q=a%00b", False),
        ("/api/v1/users?search=a%00b", True),
        ("/api/v1/ingredients/search?q=a&x%00=1", False),
    ],
)
async def test_nul_in_the_query_is_refused(client, path: str, needs_user: bool) -> None:
    headers = bearer(await sign_up(client)) if needs_user else {}
    assert_envelope(await client.get(path, headers=headers), 400, "INVALID_TEXT")


async def test_nul_in_a_path_parameter_is_refused(client) -> None:
    assert_envelope(await client.post("/api/v1/subscription/affiliate/track/ab%00c"), 400, "INVALID_TEXT")


async def test_nul_in_a_json_body_is_refused(client) -> None:
    body = {"email": new_email(), "password": "a long enough password", "name": "a\u0000b"}
    assert_envelope(await client.post(SIGNUP, json=body), 400, "INVALID_TEXT")
    # An escaped backslash followed by "u0000" is six ordinary characters, not a NUL.
    body["name"] = "a\\u0000b"
    assert (await client.post(SIGNUP, json=body)).status_code == 201


async def test_invalid_utf8_body_is_malformed_json(client) -> None:
    body = b'{"email": "a@example.com", "password": "\xff\xfe long enough", "name": "x"}'
    assert_envelope(await client.post(SIGNUP, content=body, headers=JSON), 400, "MALFORMED_JSON")


@pytest.mark.parametrize("ingredient_id", ["2147483648", "9223372036854775808", "1" + "0" * 40])
async def test_ids_beyond_the_column_are_4xx(client, ingredient_id: str) -> None:
    assert_envelope(await client.get(f"/api/v1/ingredients/{ingredient_id}"), 422, "CONSTRAINT_VIOLATION")


# One route of each family whose bodies have non-string fields: a string where the contract says number or boolean
# is refused (Litestar's default conversion would have turned "5" into 5 and "true" into True).
STRICT_CASES = [
    ("put", "/api/v1/auth/profile", {"onboarding_completed": "true"}, "onboarding_completed"),
    ("put", "/api/v1/users/preferences", {"default_serving_size": "4"}, "default_serving_size"),
    ("post", "/api/v1/users/{user_id}/follow", {"following": "true"}, "following"),
    ("post", "/api/v1/recipes/{uuid}/rate", {"rating": "5"}, "rating"),
    ("post", "/api/v1/recipes/suggestions", {"ingredients": ["egg"], "limit": "5"}, "limit"),
    (
        "put",
        "/api/v1/scan/{uuid}/ingredients",
        {"ingredients": [{"name": "egg", "category": "protein", "confidence": "0.9"}]},
        "ingredients[0].confidence",
    ),
    ("post", "/api/v1/recipes/{uuid}/variations", {"count": 2.0}, "count"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), STRICT_CASES)
async def test_bodies_decode_strictly(client, method: str, path: str, body: dict, field: str) -> None:
    auth = await sign_up(client)
    url = path.format(user_id=auth["user"]["id"], uuid=uuid.uuid4())
    response = await client.request(method.upper(), url, json=body, headers=bearer(auth))
    details = assert_envelope(response, 422, "VALIDATION_ERROR")["details"]
    assert details[0]["field"] == field


async def test_a_huge_invalid_value_is_not_echoed_in_full(client) -> None:
    auth = await sign_up(client)
    checkout = {"tier": "x" * 1_000_000, "billing_period": "monthly", "success_url": "a", "cancel_url": "b"}
    response = await client.post("/api/v1/subscription/create-checkout", json=checkout, headers=bearer(auth))
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert len(response.content) < 1000
    unknown = await client.post("/api/v1/auth/signin", json={"email": "a@b.c", "password": "x", "y" * 100_000: 1})
    body = assert_envelope(unknown, 422, "VALIDATION_ERROR")
    assert len(unknown.content) < 1000
    assert len(body["details"][0]["field"]) <= DETAIL_MAX_CHARS
    assert body["details"][0]["field"].startswith("yyyy")


async def test_query_parameter_errors_name_the_source(client) -> None:
    auth = await sign_up(client)
    response = await client.get("/api/v1/gamification/leaderboard?period=" + "x" * 6000, headers=bearer(auth))
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "query.period"
    assert len(response.content) < 1000
