"""The live.* protocol's error mapping: database trouble is the client's to retry, anything else is a logged bug;
msgspec's complaints name the field."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest

from app.live import protocol
from app.live.schemas import LiveRequest


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (asyncpg.SerializationError("conflict"), "CONTENTION"),
        (asyncpg.DeadlockDetectedError("deadlock"), "CONTENTION"),
        (asyncpg.AdminShutdownError("going down"), "SERVICE_UNAVAILABLE"),
        (asyncpg.TooManyConnectionsError("full"), "SERVICE_UNAVAILABLE"),
        (ConnectionResetError("reset"), "SERVICE_UNAVAILABLE"),
        (TimeoutError(), "SERVICE_UNAVAILABLE"),
        (asyncpg.CheckViolationError("a bug"), "INTERNAL_ERROR"),
    ],
)
def test_database_failures_map_like_http(error: Exception, code: str) -> None:
    assert protocol._database_failure("live.join", error).code == code


def test_validation_errors_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.json.decode(
            b'{"type":"live.step","session_id":"00000000-0000-0000-0000-000000000000"}', type=LiveRequest
        )
    error = protocol._invalid_request(raised.value)
    assert (error.code, error.message) == ("VALIDATION_ERROR", "The request has invalid values.")
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.json.decode(b'{"type":"live.join","session_id":7}', type=LiveRequest)
    error = protocol._invalid_request(raised.value)
    assert error.details is not None and error.details[0].field == "session_id"
