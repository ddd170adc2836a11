"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from app.core import metrics
from app.core.errors import Unauthorized
from app.core.tokens import bearer_token
from app.core.version import VERSION
from app.db.migrations import Migration
from app.db.types import ConnectionSource
from app.ops.gauges import update_gauges
from app.ops.readiness import readiness_checks
from app.ops.reconciliation import render_reconciliation
from app.realtime.hub import Hub
from app.settings import Settings


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]


@get("/health", operation_id="health", tags=["ops"])
async def health() -> Health:
    """The process is alive and its event loop answers; says nothing about dependencies. Names the running version."""
    return Health(status="ok", version=VERSION)


@get(
    "/ready",
    operation_id="ready",
    tags=["ops"],
    responses={503: ResponseSpec(Readiness, description="Not ready: the checks that failed are named.")},
)
async def ready(
    settings: NamedDependency[Settings],
    connect: NamedDependency[ConnectionSource],
    migrations: NamedDependency[list[Migration]],
    hub: NamedDependency[Hub],
) -> Response[Readiness]:
    """Ready when the database answers within the timeout, every migration of this code is applied and unchanged
    (a database ahead of the code is fine), and the real-time listener is connected."""
    checks = await readiness_checks(connect, migrations, hub, timeout_seconds=settings.database.ready_timeout_seconds)
    healthy = all(value == "ok" for value in checks.values())
    return Response(
        Readiness(status="ready" if healthy else "unavailable", checks=checks),
        status_code=200 if healthy else 503,
        headers={} if healthy else {"Retry-After": "5"},
    )


# The scheme is declared with the document's (app/web/openapi.py); `{}`: no token when none is configured.
@get(
    "/metrics",
    operation_id="metrics",
    tags=["ops"],
    media_type=metrics.CONTENT_TYPE,
    security=[{"metricsToken": []}, {}],
)
async def metrics_endpoint(
    settings: NamedDependency[Settings],
    connect: NamedDependency[ConnectionSource],
    pool: NamedDependency[asyncpg.Pool],
    hub: NamedDependency[Hub],
    request: Request[Any, Any, Any],
) -> Response[bytes]:
    """Prometheus metrics of every worker, and the reconciliation's. 401 METRICS_TOKEN_REQUIRED without the bearer
    token, when the deployment sets one."""
    if settings.http.metrics_token is not None:
        presented = (bearer_token(request.headers.get("authorization")) or "").encode()
        accepted = [token for token in (settings.http.metrics_token, settings.http.metrics_previous_token) if token]
        # Compare with every accepted token (no early exit): the time taken says nothing about which one is close.
        if not sum(hmac.compare_digest(presented, token.encode()) for token in accepted):
            raise Unauthorized("METRICS_TOKEN_REQUIRED", "Metrics need the configured bearer token.")
    update_gauges(pool, hub)
    reconciliation = await render_reconciliation(connect, settings.database.ready_timeout_seconds)
    return Response(metrics.render(settings.data_dir) + reconciliation, media_type=metrics.CONTENT_TYPE)
