from __future__ import annotations

import logfire
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core.tracing import configure_tracing, flush_spans, label_request_span
from app.settings import Settings
from tests.fakes.otlp import fake_collector


def test_request_span_is_named_by_route_template_and_carries_the_request_id() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /api/v1/recipes/6f1c2a"):
        label_request_span("GET", "/api/v1/recipes/{recipe_id:uuid}", "req-9")
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /api/v1/recipes/{recipe_id:uuid}"
    assert span.attributes is not None and span.attributes["http.route"] == "/api/v1/recipes/{recipe_id:uuid}"
    assert span.attributes["request.id"] == "req-9"


def test_without_a_token_or_an_endpoint_in_the_settings_no_span_leaves_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fake_collector() as collector:
        # A variable the settings did not take (e.g. a test's explicit Settings): the settings decide, not it.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        assert configure_tracing(Settings(app_env="test")) is False
        with logfire.span("work"):
            pass
        flush_spans()
    assert collector.spans == []
