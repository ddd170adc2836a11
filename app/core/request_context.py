"""Per-request context (request id, user id) carried through logs, traces and outbound calls."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
user_id_var: ContextVar[str] = ContextVar("user_id", default="")

# A caller-supplied id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_or_make_request_id(incoming: str | None) -> str:
    if incoming and _ACCEPTABLE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str:
    return request_id_var.get()
