"""Logfire (OpenTelemetry) set-up: spans are exported only when a token is configured."""

from __future__ import annotations

from typing import Any

import logfire
from opentelemetry import trace

from app.settings import Settings


def configure_tracing(settings: Settings) -> bool:
    """Configure Logfire and instrument asyncpg and httpx; return whether spans are being sent."""
    enabled = settings.logfire.token is not None
    logfire.configure(
        send_to_logfire="if-token-present",
        token=settings.logfire.token,
        service_name=settings.logfire.service_name,
        environment=settings.app_env,
        console=False,
        inspect_arguments=False,
        # Request bodies may carry passwords and receipts; Logfire's scrubber redacts those attribute names too.
        scrubbing=logfire.ScrubbingOptions(extra_patterns=["receipt", "purchase_token", "signed_transaction"]),
    )
    if enabled:
        logfire.instrument_asyncpg()
        logfire.instrument_httpx()
    return enabled


def instrument_asgi(app: Any) -> Any:
    return logfire.instrument_asgi(app)


def label_request_span(method: str, route: str, request_id: str) -> None:
    """Name the request span after the route template, not the raw path (bounded cardinality), and tag it with
    the request id that the logs and the response carry."""
    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("request.id", request_id)
