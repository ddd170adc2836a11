"""Tracing with the standard OpenTelemetry variables and no Logfire token: a request's ASGI, asyncpg and httpx spans
reach a loopback OTLP/HTTP collector (tests/fakes/otlp.py) in one trace, and its access log line names that trace."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from app.core.tracing import configure_tracing
from app.server import create_app
from app.settings import GoogleSettings, OtelSettings, Settings
from tests.conftest import make_settings
from tests.fakes.google import fake_google
from tests.fakes.otlp import fake_collector

CLIENT_ID = "1234567890-android.apps.googleusercontent.com"


@pytest.fixture
def untraced_afterwards(database_url: str) -> Iterator[None]:
    """Tracing is process-wide: give the tests that follow in this process the untraced set-up back."""
    yield
    configure_tracing(make_settings(database_url))
    AsyncPGInstrumentor().uninstrument()
    HTTPXClientInstrumentor().uninstrument()


def _otlp_settings(database_url: str, endpoint: str, certs_url: str) -> Settings:
    return make_settings(
        database_url,
        otel=OtelSettings(exporter_otlp_endpoint=endpoint, service_name="cookcam-otlp-test"),
        google=GoogleSettings(oidc_certs_url=certs_url, signin_client_ids=(CLIENT_ID,)),
    )


async def test_request_spans_reach_an_otlp_collector_and_the_log_line_carries_their_trace_id(
    database_url: str, capsys: pytest.CaptureFixture[str], untraced_afterwards: None
) -> None:
    with fake_collector() as collector, fake_google() as google:
        # Sign in with Google: fetches Google's certificates (httpx), then writes the account (asyncpg).
        token = google.signin_token(audience=CLIENT_ID, subject=str(uuid.uuid4().int)[:21], email="otlp@example.com")
        certs_url = google.certs_url
        app = create_app(_otlp_settings(database_url, collector.endpoint, certs_url))
        async with AsyncTestClient(app=app) as client:
            response = await client.post("/api/v1/auth/google", json={"id_token": token})
            assert response.status_code == 201, response.text
        # Leaving the client ran the app's shutdown, which flushed the queued spans to the collector.

    names = [s.name for s in collector.spans]
    request_spans = [s for s in collector.spans if s.name == "POST /api/v1/auth/google"]
    assert len(request_spans) == 1, names
    request_span = request_spans[0]
    assert request_span.service_name == "cookcam-otlp-test"
    assert request_span.attributes["http.route"] == "/api/v1/auth/google"
    assert request_span.attributes["request.id"] == response.headers["x-request-id"]
    in_trace = [s for s in collector.spans if s.trace_id == request_span.trace_id]
    assert any(s.attributes.get("db.system") == "postgresql" for s in in_trace), names
    assert any(s.attributes.get("http.url") == certs_url for s in in_trace), names
    # Logfire's scrubbing runs before the OTLP exporter too: no attribute carries the ID token the request posted.
    assert not any(token in str(value) for s in collector.spans for value in s.attributes.values())
    assert set(collector.content_types) == {"application/x-protobuf"}

    err = capsys.readouterr().err
    (access,) = [line for line in err.splitlines() if "cookcam.access: POST /api/v1/auth/google" in line]
    assert re.search(rf"\btrace_id={request_span.trace_id}\b", access), access
