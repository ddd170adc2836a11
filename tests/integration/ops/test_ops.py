"""Health, readiness and metrics."""

from __future__ import annotations

import gc
import logging
import platform
import re
import tomllib
from pathlib import Path

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from app.core.edge import DOCS_CSP
from app.db.migrations import migrate
from app.server import create_app
from app.settings import HttpSettings
from tests.conftest import make_settings
from tests.support import production_like_env, sign_up

# The version the project declares; the installed build must say the same everywhere it names itself.
VERSION = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())["project"]["version"]


async def test_health(client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": VERSION}


async def test_probe_access_lines_are_debug_and_every_other_request_info(client, caplog) -> None:
    """Load balancers ask /health and /ready every few seconds: at the default LOG_LEVEL their lines stay out."""
    caplog.set_level(logging.DEBUG, logger="cookcam.access")
    for path in ("/health", "/ready", "/api/v1/does-not-exist"):
        await client.get(path)
    levels = {record.route: record.levelname for record in caplog.records if record.name == "cookcam.access"}
    assert levels == {"/health": "DEBUG", "/ready": "DEBUG", "<unmatched>": "INFO"}


async def test_ready_when_database_and_migrations_are_current(client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "realtime": "ok"}


async def test_not_ready_when_a_migration_is_missing(client, db: asyncpg.Connection) -> None:
    row = await db.fetchrow("select version, checksum from schema_migrations order by version desc limit 1")
    await db.execute("delete from schema_migrations where version = $1", row["version"])
    try:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"].startswith("1 migration(s) not applied")
        assert response.headers["retry-after"] == "5"
    finally:
        await db.execute("insert into schema_migrations (version, checksum) values ($1, $2)", *row)


async def test_not_ready_when_the_database_is_unreachable(postgres) -> None:
    name, dsn = await postgres.create_database("cookcam_ready")
    await migrate(dsn)
    async with AsyncTestClient(app=create_app(make_settings(dsn))) as client:
        assert (await client.get("/ready")).status_code == 200
        await postgres.drop_database(name)  # terminates the pool's connections; new ones cannot be made
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["database"].startswith("unavailable")
        assert response.json()["status"] == "unavailable"
        # Liveness does not depend on the database.
        assert (await client.get("/health")).status_code == 200


async def test_metrics_count_requests_by_route_template(client) -> None:
    auth = await sign_up(client)
    await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {auth['access_token']}"})
    await client.get("/api/v1/does-not-exist")
    text = (await client.get("/metrics")).text
    assert 'cookcam_http_requests_total{method="GET",route="/api/v1/auth/me",status="200"}' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "cookcam_http_request_duration_seconds_bucket" in text
    assert "cookcam_db_pool_max" in text


async def test_metrics_name_the_running_build(client) -> None:
    text = (await client.get("/metrics")).text
    assert f'cookcam_build_info{{python="{platform.python_version()}",version="{VERSION}"}} 1.0' in text


async def test_openapi_schema_is_served(client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/auth/signup" in paths
    assert "/api/v1/auth/me" in paths


async def test_openapi_keeps_the_names_and_fields_of_the_shared_rows(client) -> None:
    """User and Earning are rows the SQL names (`-- row: User`): their schema names and fields are the API's."""
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    user = {
        "id",
        "email",
        "name",
        "avatar_url",
        "is_creator",
        "creator_tier",
        "onboarding_completed",
        "default_serving_size",
        "meal_prep_enabled",
        "default_meal_prep_count",
        "kitchen_appliances",
        "dietary_preferences",
        "cuisine_preferences",
        "cooking_skill_level",
        "created_at",
        "time_zone",
        "email_verified",
    }
    earning = {
        "id",
        "link_id",
        "provider",
        "period_start",
        "kind",
        "amount_cents",
        "net_cents",
        "share_percent",
        "currency",
        "created_at",
        "payable_at",
    }
    for name, fields in (("User", user), ("Earning", earning)):
        assert set(schemas[name]["properties"]) == fields
        assert set(schemas[name]["required"]) == fields
    assert schemas["AuthResponse"]["properties"]["user"] == {"$ref": "#/components/schemas/User"}
    assert schemas["Revenue"]["properties"]["earnings"]["items"] == {"$ref": "#/components/schemas/Earning"}


async def test_production_exposes_only_product_routes_and_sends_hsts(database_url: str) -> None:
    from app.settings import load_settings

    settings = load_settings(production_like_env(DATABASE_URL=database_url, JOBS_SCHEDULER_ENABLED="false"))
    app = create_app(settings)
    assert app.debug is False
    paths = {route.path for route in app.routes}
    product = {p for p in paths if p.startswith("/api/v1/")}
    assert product == {
        f"/api/v1/auth/{name}"
        for name in (
            *("account", "export", "link-referral", "me", "profile", "refresh", "signin", "signout", "signup"),
            *("change-password", "signout-all", "forgot-password", "reset-password"),
            *("verify-email", "resend-verification", "change-email"),
            *("google", "apple", "apple/notifications", "identities", "identities/{provider:str}"),
        )
    } | {
        "/api/v1/ws",
        "/api/v1/live-sessions",
        "/api/v1/live-sessions/{session_id:uuid}",
        "/api/v1/live-sessions/{session_id:uuid}/messages",
        "/api/v1/subscription/tiers",
        "/api/v1/subscription/products",
        "/api/v1/subscription/status",
        "/api/v1/users/subscription",
        "/api/v1/users/profile",
        "/api/v1/users/preferences",
        "/api/v1/subscription/webhook/stripe",
        "/api/v1/subscription/webhook/stripe-connect",
        "/api/v1/subscription/validate-purchase",
        "/api/v1/iap/validate-receipt",
        "/api/v1/iap/notifications/apple",
        "/api/v1/iap/notifications/google",
        "/api/v1/scan/analyze",
        "/api/v1/scan/ingredients",
        "/api/v1/scan/history",
        "/api/v1/scan/{scan_id:uuid}",
        "/api/v1/scan/{scan_id:uuid}/ingredients",
        "/api/v1/scan/{scan_id:uuid}/image",
        "/api/v1/ingredients",
        "/api/v1/ingredients/search",
        "/api/v1/ingredients/categories",
        "/api/v1/ingredients/{ingredient_id:int}",
        "/api/v1/recipes/suggestions",
        "/api/v1/recipes/{recipe_id:uuid}",
        "/api/v1/recipes/{recipe_id:uuid}/nutrition",
        "/api/v1/recipes",
        "/api/v1/recipes/saved/my",
        "/api/v1/recipes/{recipe_id:uuid}/save",
        "/api/v1/recipes/{recipe_id:uuid}/favorite",
        "/api/v1/recipes/{recipe_id:uuid}/rate",
        "/api/v1/recipes/generate-previews",
        "/api/v1/recipes/generate-detailed",
        "/api/v1/recipes/generate-full",
        "/api/v1/recipes/generate",
        "/api/v1/recipes/{recipe_id:uuid}/variations",
        "/api/v1/users",
        "/api/v1/users/{user_id:uuid}",
        "/api/v1/users/{user_id:uuid}/follow",
        "/api/v1/users/{user_id:uuid}/followers",
        "/api/v1/users/{user_id:uuid}/following",
        "/api/v1/gamification/add-xp",
        "/api/v1/gamification/progress",
        "/api/v1/gamification/check-streak",
        "/api/v1/gamification/achievements",
        "/api/v1/gamification/leaderboard",
        "/api/v1/subscription/affiliate/generate",
        "/api/v1/subscription/affiliate/links",
        "/api/v1/subscription/affiliate/track/{code:str}",
        "/api/v1/subscription/creator/revenue",
        "/api/v1/subscription/creator/analytics",
        "/api/v1/subscription/creator/balance",
        "/api/v1/subscription/creator/stripe/onboard",
        "/api/v1/subscription/creator/stripe/status",
        "/api/v1/subscription/creator/payout",
        "/api/v1/analytics/track",
        "/api/v1/analytics/dashboard",
        "/api/v1/subscription/create-checkout",
        "/api/v1/subscription/portal",
        "/api/v1/subscription/cancel",
        "/api/v1/subscription/resume",
        "/api/v1/subscription/change-tier",
        "/api/v1/subscription/refresh-status",
    }
    pages = {
        "/account/delete",
        "/account/delete/confirm",
        "/account/reset-password",
        "/account/verify-email",
        "/account/pages.css",
        "/account/favicon.svg",
    }  # the web pages (app/pages)
    assert paths - product == {"/health", "/ready", "/metrics"} | pages | {p for p in paths if p.startswith("/schema")}
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/health")
        assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_metrics_token_when_configured(database_url: str) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url), http=HttpSettings(metrics_token="scrape-token-0123456789-0123456789")
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/metrics")).json()["code"] == "METRICS_TOKEN_REQUIRED"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789-0123456789"})
        assert right.status_code == 200
        assert "cookcam_http_requests_total" in right.text


async def test_metrics_accept_the_previous_token_during_a_rotation(database_url: str) -> None:
    """Instances and the scrape config change at different moments: both tokens work until the old one is removed."""
    http = HttpSettings(
        metrics_token="new-scrape-token-0123456789-0123456789",
        metrics_previous_token="old-scrape-token-0123456789-0123456789",
    )
    settings = msgspec.structs.replace(make_settings(database_url), http=http)
    async with AsyncTestClient(app=create_app(settings)) as client:
        for token in ("new-scrape-token-0123456789-0123456789", "old-scrape-token-0123456789-0123456789"):
            assert (await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "METRICS_TOKEN_REQUIRED")


async def test_metrics_answer_without_the_reconciliation_figures_while_the_database_is_stuck(
    database_url: str, db: asyncpg.Connection
) -> None:
    settings = make_settings(database_url)
    settings = msgspec.structs.replace(
        settings, database=msgspec.structs.replace(settings.database, ready_timeout_seconds=0.5)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert "cookcam_reconciliation_checked_total" in (await client.get("/metrics")).text
        async with db.transaction():
            await db.execute("lock table reconciliation_provider_totals in access exclusive mode")
            stuck = await client.get("/metrics")
        assert stuck.status_code == 200
        assert "cookcam_http_requests_total" in stuck.text
        assert "cookcam_reconciliation" not in stuck.text


async def test_the_edge_adds_the_request_id_and_security_headers_and_writes_one_access_line(client, caplog) -> None:
    """What app/core/edge.py adds to every response, in its order, and the access line it writes."""
    caplog.set_level(logging.INFO, logger="cookcam.access")
    api = await client.get("/api/v1/does-not-exist", headers={"X-Request-ID": "edge-1"})
    assert api.headers.raw[-8:] == [
        (b"x-request-id", b"edge-1"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    ]
    docs = await client.get("/schema/openapi.json")
    assert docs.headers.raw[-8:-7] == [(b"x-request-id", docs.headers["x-request-id"].encode())]
    assert docs.headers.raw[-2] == (b"cache-control", b"no-store")
    assert docs.headers.raw[-1] == DOCS_CSP  # the viewer's own policy (app/web/openapi.py), not the API's
    (line,) = [record for record in caplog.records if record.name == "cookcam.access" and record.status == 404]
    assert re.fullmatch(r"GET <unmatched> 404 \d+\.\dms", line.getMessage())
    assert (line.levelname, line.route, line.method, line.status) == ("INFO", "<unmatched>", "GET", 404)
    assert isinstance(line.duration_ms, float)


async def test_a_started_worker_keeps_its_start_up_objects_out_of_full_collections(database_url: str) -> None:
    """Under load a full collection scanned the whole app about every second (80-110 ms each, stalling every
    request in flight: docs/benchmarks.md); what start-up made is frozen, and released again at shutdown."""
    async with AsyncTestClient(app=create_app(make_settings(database_url))) as client:
        assert (await client.get("/health")).status_code == 200
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
