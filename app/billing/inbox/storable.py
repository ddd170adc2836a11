"""Provider payloads as PostgreSQL can store them: jsonb (like text) refuses U+0000, which JSON allows (`\\u0000`).

A signed event carrying one (a NUL a customer typed into a name) could not be stored, so it could never be
processed nor retried. It is stored, and processed, with each NUL escaped as the six characters `\\u0000`; the
signature is checked before, over the bytes as the provider signed them.
"""

from __future__ import annotations

from typing import Any

import msgspec

NUL = "\x00"
ESCAPED_NUL = "\\u0000"


def storable_json(body: bytes) -> bytes:
    """`body` itself when it holds no NUL (the common case costs one scan); otherwise re-encoded with every NUL
    escaped. A body that is not JSON is returned as it is, for the caller's decoder to refuse."""
    if b"\\u0000" not in body:
        return body
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    escaped = _escaped(document)
    # Unchanged when the match was text (an escaped backslash followed by "u0000"), not a NUL.
    return body if escaped == document else msgspec.json.encode(escaped)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, ESCAPED_NUL)
    if isinstance(value, dict):
        return {_escaped(key): _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value
