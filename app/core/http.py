"""The one way the service calls other companies' APIs: an httpx client that carries the request id."""

from __future__ import annotations

import httpx

from app.core.request_context import current_request_id

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


async def _propagate_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["X-Request-ID"] = request_id


def create_http_client(*, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """A pooled client for outbound calls; every request carries the X-Request-ID of the request being served."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        event_hooks={"request": [_propagate_request_id]},
        headers={"User-Agent": "cookcam-api"},
    )
