"""Tracing through Logfire (OpenTelemetry): spans leave the process only when a Logfire token or an OTLP endpoint
(OTEL_EXPORTER_OTLP_ENDPOINT, any OpenTelemetry collector) is configured; both may be."""

from __future__ import annotations

from typing import Any

import logfire
from opentelemetry import trace

from app.core.version import VERSION
from app.settings import Settings, export_otel_endpoint

# A worker stopping gives its last spans this long to reach the collector.
FLUSH_TIMEOUT_MILLIS = 2000


def configure_tracing(settings: Settings) -> bool:
    """Configure Logfire and instrument asyncpg and httpx; return whether spans are being sent."""
    enabled = settings.logfire.token is not None or settings.otel.exporter_otlp_endpoint is not None
    # Logfire adds an OTLP/HTTP span exporter (to <endpoint>/v1/traces) when the process environment names one.
    export_otel_endpoint(settings.otel)
    logfire.configure(
        send_to_logfire="if-token-present",
        token=settings.logfire.token,
        service_name=settings.otel.service_name or settings.logfire.service_name,
        service_version=VERSION,
        environment=settings.app_env,
        console=False,
        inspect_arguments=False,
        # Traces only: metrics are Prometheus' (/metrics), and many collectors accept no OTLP metrics.
        metrics=False,
        # Request bodies may carry passwords and receipts; Logfire's scrubber redacts those attribute names too.
        # It runs before every exporter, the OTLP one included.
        scrubbing=logfire.ScrubbingOptions(extra_patterns=["receipt", "purchase_token", "signed_transaction"]),
    )
    if enabled:
        logfire.instrument_asyncpg()
        logfire.instrument_httpx()
    return enabled


def flush_spans() -> None:
    """Export the spans still queued (the batch processors send every few seconds): a stopping worker's last ones."""
    logfire.force_flush(timeout_millis=FLUSH_TIMEOUT_MILLIS)


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
