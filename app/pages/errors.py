"""The pages' errors as HTML: the same statuses, messages and headers that app/core/errors.py chooses for the JSON
API (one mapping), rendered as a page instead of the envelope."""

from __future__ import annotations

from collections.abc import Callable
from string import Template
from typing import Any

import msgspec
from litestar import Request, Response

from app.core.errors import EXCEPTION_HANDLERS, ErrorBody
from app.pages.markup import render
from app.pages.page import html_response

ERROR = Template(
    """<p class="message error" role="alert">$message</p>
<p class="muted">Reference: $request_id</p>
"""
)

_TITLES = {
    400: "This request could not be read",
    403: "This form cannot be accepted",
    404: "Not found",
    413: "This form is too large",
    415: "This form cannot be accepted",
    429: "Too many attempts",
}

JsonHandler = Callable[[Request[Any, Any, Any], Exception], Response[bytes]]


def _as_page(handler: JsonHandler) -> Callable[[Request[Any, Any, Any], Exception], Response[str]]:
    def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        answer = handler(request, exc)
        body = msgspec.json.decode(answer.content, type=ErrorBody)
        headers = {name: value for name, value in answer.headers.items() if name.lower() == "retry-after"}
        status = answer.status_code or 500
        content = render(ERROR, message=body.message, request_id=body.request_id)
        return html_response(_TITLES.get(status, "Something went wrong"), content, status_code=status, headers=headers)

    return page_error


PAGE_EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    kind: _as_page(handler) for kind, handler in EXCEPTION_HANDLERS.items()
}
