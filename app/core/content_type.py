"""Request bodies must be JSON unless a route declares other content types in opt["content_types"]."""

from __future__ import annotations

from typing import Any

from litestar import Request

from app.core.errors import AppError

JSON_CONTENT_TYPES = ("application/json",)


class UnsupportedMediaType(AppError):
    status_code = 415

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__("UNSUPPORTED_MEDIA_TYPE", f"Send the body as {' or '.join(allowed)}.")


async def require_declared_content_type(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook; async on purpose, since Litestar runs a sync hook in a worker thread."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not has_body:
        return
    allowed = request.route_handler.opt.get("content_types", JSON_CONTENT_TYPES)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in allowed:
        raise UnsupportedMediaType(allowed)
