"""SQLSTATE mapping and the envelope, called as Litestar calls the handlers."""

from __future__ import annotations

import socket

import asyncpg
import msgspec
import pytest

from app.core.errors import EXCEPTION_HANDLERS


def _handle(exc: Exception) -> tuple[int, dict, dict]:
    for kind in type(exc).__mro__:
        if kind in EXCEPTION_HANDLERS:
            response = EXCEPTION_HANDLERS[kind](None, exc)
            return (
                response.status_code,
                msgspec.json.decode(response.content),
                {k.lower(): v for k, v in response.headers.items()},
            )
    raise AssertionError("no handler")


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (asyncpg.UniqueViolationError("dup"), 409, "ALREADY_EXISTS"),
        (asyncpg.ForeignKeyViolationError("fk"), 409, "REFERENCE_CONFLICT"),
        (asyncpg.CheckViolationError("check"), 422, "CONSTRAINT_VIOLATION"),
        (asyncpg.SerializationError("serial"), 503, "CONTENTION"),
        (asyncpg.DeadlockDetectedError("deadlock"), 503, "CONTENTION"),
        (asyncpg.AdminShutdownError("bye"), 503, "DATABASE_UNAVAILABLE"),
        (asyncpg.TooManyConnectionsError("full"), 503, "DATABASE_UNAVAILABLE"),
        (asyncpg.UndefinedTableError("select * from secret_table"), 500, "INTERNAL_ERROR"),
        (ConnectionRefusedError("refused"), 503, "DATABASE_UNAVAILABLE"),
        (socket.gaierror(-2, "Name or service not known"), 503, "DATABASE_UNAVAILABLE"),
        (TimeoutError(), 503, "DATABASE_UNAVAILABLE"),
        (RuntimeError("internal detail"), 500, "INTERNAL_ERROR"),
        (RecursionError("maximum recursion depth exceeded while deserializing an object"), 400, "JSON_TOO_DEEP"),
        (RecursionError("maximum recursion depth exceeded"), 500, "INTERNAL_ERROR"),  # a bug of ours
    ],
)
def test_mapping(exc: Exception, status: int, code: str) -> None:
    got_status, body, headers = _handle(exc)
    assert (got_status, body["code"]) == (status, code)
    assert "secret_table" not in body["message"] and "internal detail" not in body["message"]
    if status == 503:
        assert int(headers["retry-after"]) >= 1
