"""Per-request context (request id, user id) carried through logs, traces and outbound calls."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
user_id_var: ContextVar[str] = ContextVar("user_id", default="")

# A caller-supplied id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A made id is a random UUID (version 4) in hex, as `uuid.uuid4().hex` writes it; set here from 16 random bytes
# with the version and variant bits that uuid.UUID(version=4) sets, at a quarter of its cost: every request
# without an id of its own makes one.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    return f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"


def accept_or_make_request_id(incoming: str | None) -> str:
    if incoming and _ACCEPTABLE_REQUEST_ID.match(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()
