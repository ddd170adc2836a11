"""SQLSTATE mapping and the envelope, called as Litestar calls the handlers."""

from __future__ import annotations

import datetime
import socket
from collections.abc import Callable

import asyncpg
import msgspec
import pytest

from app.core.errors import DETAIL_MAX_CHARS, EXCEPTION_HANDLERS, ErrorDetail, Unprocessable


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


def _raised(make: Callable[[], object]) -> Exception:
    try:
        make()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def _out_of_range_argument() -> asyncpg.DataError:
    exc = asyncpg.DataError("invalid input for query argument $1: 2147483648 (value out of int32 range)")
    exc.__cause__ = OverflowError("value out of int32 range")
    return exc


def _wrong_argument_type() -> asyncpg.DataError:
    exc = asyncpg.DataError("invalid input for query argument $1: 'x' (an integer is required)")
    exc.__cause__ = TypeError("an integer is required")
    return exc


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'), 400, "INVALID_TEXT"),
        (asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"), 400, "INVALID_TEXT"),
        (_out_of_range_argument(), 422, "CONSTRAINT_VIOLATION"),
        (_wrong_argument_type(), 500, "INTERNAL_ERROR"),  # our bug, not the client's
        (_raised(b"\xff".decode), 400, "INVALID_TEXT"),
        # An OSError that did not come out of the database driver is no outage (item 17: a provider's timestamp).
        (_raised(lambda: datetime.datetime.fromtimestamp(2**62, datetime.UTC)), 500, "INTERNAL_ERROR"),
        (ConnectionRefusedError("refused, raised by our own code"), 500, "INTERNAL_ERROR"),
        (TimeoutError(), 500, "INTERNAL_ERROR"),
    ],
)
def test_client_values_and_other_errors(exc: Exception, status: int, code: str) -> None:
    got_status, body, _ = _handle(exc)
    assert (got_status, body["code"]) == (status, code)


async def test_an_unreachable_database_is_an_outage() -> None:
    refused = await _connect_error("postgresql://cookcam@127.0.0.1:1/cookcam", timeout=5)
    assert isinstance(refused, ConnectionRefusedError)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        timed_out = await _connect_error(f"postgresql://cookcam@127.0.0.1:{port}/cookcam", timeout=0.2)
    assert isinstance(timed_out, TimeoutError)
    for exc in (refused, timed_out):
        status, body, headers = _handle(exc)
        assert (status, body["code"], headers["retry-after"]) == (503, "DATABASE_UNAVAILABLE", "5")


async def _connect_error(dsn: str, *, timeout: float) -> Exception:
    try:
        await asyncpg.connect(dsn, timeout=timeout)
    except Exception as exc:
        return exc
    raise AssertionError("connected")


def test_details_echo_a_bounded_piece_of_the_value() -> None:
    huge = "y" * 1_000_000
    status, body, _ = _handle(Unprocessable("BAD", "Bad.", details=[ErrorDetail(message=huge, field=huge)]))
    detail = body["details"][0]
    assert status == 422
    assert len(detail["message"]) == len(detail["field"]) == DETAIL_MAX_CHARS
    assert detail["message"].startswith("yyy") and detail["message"].endswith("…")
