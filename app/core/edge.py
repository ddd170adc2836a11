"""The outermost ASGI layer: request id, security headers, metrics and the access log for every HTTP response,
including the ones the router itself answers (unknown routes, wrong methods); and the refusal of a NUL character
in the path or the query string before anything reads them."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from app.core import metrics
from app.core.errors import InvalidText, error_body
from app.core.request_context import accept_or_make_request_id, request_id_var, user_id_var
from app.core.tracing import label_request_span

access_log = logging.getLogger("cookcam.access")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# The JSON API needs nothing. The OpenAPI viewer (/schema) loads its scripts, stylesheet and icon from the app itself
# (app/web/openapi.py) and calls only this origin; its page starts Swagger UI with an inline script holding the
# document, and Swagger UI sets inline styles and data: images.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
)
API_PREFIX = "/api/"
# Load balancers and Kubernetes ask these every few seconds: their access lines are DEBUG, the rest INFO.
PROBE_ROUTES = frozenset({"/health", "/ready"})


def _has_nul(scope: Scope) -> bool:
    """A NUL in a path parameter or a query value of the JSON API would reach PostgreSQL, which cannot store it in
    text. The path arrives percent-decoded; the query string raw (a NUL can only travel as %00). The HTML pages of
    app/pages ignore a garbled query and answer with pages of their own, so they are left to it."""
    path: str = scope["path"]
    return path.startswith(API_PREFIX) and ("\x00" in path or b"%00" in scope.get("query_string", b""))


async def _refuse_nul(send: Send) -> None:
    refusal = InvalidText()
    body = error_body(refusal.code, refusal.message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": refusal.status_code, "headers": headers}
    await send(start)
    content: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(content)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route(scope: Scope) -> str:
    return str(scope.get("path_template") or metrics.UNMATCHED_ROUTE)


class EdgeMiddleware:
    """Runs on every request, so what it adds per request is kept to what it must compute (see "Where the time
    goes" in docs/benchmarks.md): the headers are built once, and the request span is labelled only when requests
    are traced (`traced`: the tracing wiring wraps this layer in one, app/core/tracing.py)."""

    def __init__(self, app: ASGIApp, *, hsts: bool, traced: bool) -> None:
        self._app = app
        self._traced = traced
        security = (*SECURITY_HEADERS, HSTS) if hsts else tuple(SECURITY_HEADERS)
        # What follows the response's own headers and x-request-id, in this order.
        self._api_headers = (*security, API_CSP)
        self._docs_headers = (*security, DOCS_CSP)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = accept_or_make_request_id(_header(scope, b"x-request-id"))
        request_id_var.set(request_id)
        user_id_var.set("")
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        is_docs = scope["path"].startswith("/schema")
        extra = self._docs_headers if is_docs else self._api_headers

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self._traced:
                    # Now, while the request span is open: the tracer ends it with the response's last body message.
                    label_request_span(metrics.method_label(scope.get("method", "")), _route(scope), request_id)
                headers = list(message.get("headers", ()))
                # A response that chose its own header keeps it: the HTML pages of app/pages their CSP, the
                # viewer's files and scan images their caching. (Most responses set one or two headers.)
                own = {key.lower() for key, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in extra if h[0] not in own)
                message["headers"] = headers
            await send(message)

        try:
            if _has_nul(scope):
                await _refuse_nul(send_with_headers)
            else:
                await self._app(scope, receive, send_with_headers)
        finally:
            _record(scope, status, time.perf_counter() - started)


def _record(scope: Any, status: int, seconds: float) -> None:
    route = _route(scope)
    method = metrics.method_label(scope.get("method", ""))  # nor in logs and span names: a bounded set
    metrics.observe_request(route, method, status, seconds)
    level = logging.DEBUG if route in PROBE_ROUTES else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    # Made and handled as Logger.log would, without its walk up the stack for the caller's file and line (no
    # formatter writes them; the record names this function).
    record = access_log.makeRecord(
        access_log.name,
        level,
        __file__,
        _RECORD_LINE,
        "%s %s %s %.1fms",
        (method, route, status, seconds * 1000),
        None,
        "_record",
        {"route": route, "method": method, "status": status, "duration_ms": round(seconds * 1000, 2)},
    )
    access_log.handle(record)


_RECORD_LINE = _record.__code__.co_firstlineno
