"""A loopback OpenTelemetry collector speaking OTLP/HTTP with binary protobuf, the OTLP specification's
"OTLP/HTTP" section (https://opentelemetry.io/docs/specs/otlp/#otlphttp):

* POST /v1/traces, `Content-Type: application/x-protobuf`, body an `ExportTraceServiceRequest`
  (opentelemetry/proto/collector/trace/v1/trace_service.proto), optionally `Content-Encoding: gzip`; answered
  200 with an empty `ExportTraceServiceResponse` ("full success").
* POST /v1/metrics and /v1/logs: answered 200 and dropped; anything else 404.

`collector.spans` holds every span received, flattened with its service name, in arrival order."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes.loopback import QuietHandler, serving

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    service_name: str
    name: str
    trace_id: str  # 32 lower-case hex digits, as the logs write it
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class FakeCollector:
    def __init__(self) -> None:
        self.endpoint = ""  # the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT
        self.spans: list[ReceivedSpan] = []
        self.content_types: list[str] = []
        self._lock = threading.Lock()

    def receive_traces(self, content_type: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    received.append(ReceivedSpan(resource["service.name"], span.name, span.trace_id.hex(), attributes))
        with self._lock:
            self.content_types.append(content_type)
            self.spans.extend(received)


@contextmanager
def fake_collector() -> Iterator[FakeCollector]:
    collector = FakeCollector()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.body()
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                collector.receive_traces(self.headers.get("Content-Type", ""), body)
                self.reply(200, ExportTraceServiceResponse().SerializeToString(), PROTOBUF)
            elif self.path in ("/v1/metrics", "/v1/logs"):
                self.reply(200, b"", PROTOBUF)
            else:
                self.reply(404, b"", "text/plain")

    with serving(Handler) as base_url:
        collector.endpoint = base_url
        yield collector
