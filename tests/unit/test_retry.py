"""Outbound retries (app/core/retry.py): only transient failures are retried, Retry-After is honoured up to the
maximum wait, and exhausted or too-distant retries become 503 with a Retry-After."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from app.core.errors import ServiceUnavailable, Unprocessable
from app.core.retry import TransientFailure, call_with_retries, raise_for_transient, retry_after_seconds
from app.settings import OutboundSettings

FAST = OutboundSettings(retry_attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.2)


def _failing(*failures: Exception, result: str = "ok"):
    calls = []

    async def call() -> str:
        calls.append(time.monotonic())
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    return call, calls


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = email.utils.format_datetime(email.utils.localtime().astimezone(), usegmt=False)
    assert 0.0 <= retry_after_seconds(later) <= 1.0


def test_only_5xx_and_429_are_transient() -> None:
    assert raise_for_transient(httpx.Response(404)).status_code == 404
    with pytest.raises(TransientFailure) as raised:
        raise_for_transient(httpx.Response(429, headers={"Retry-After": "3"}))
    assert raised.value.retry_after == 3.0
    with pytest.raises(TransientFailure):
        raise_for_transient(httpx.Response(502))


async def test_transient_failures_are_retried_and_retry_after_is_honoured() -> None:
    call, calls = _failing(httpx.ConnectTimeout("slow"), TransientFailure(429, 0.15))
    assert await call_with_retries("Test", call, FAST) == "ok"
    assert len(calls) == 3
    assert calls[2] - calls[1] >= 0.15


async def test_a_retry_after_beyond_the_maximum_answers_503_at_once() -> None:
    call, calls = _failing(TransientFailure(429, 120.0))
    with pytest.raises(ServiceUnavailable) as raised:
        await call_with_retries("Test", call, FAST)
    assert len(calls) == 1
    assert raised.value.headers == {"Retry-After": "120"}


async def test_exhausted_retries_answer_503_and_permanent_failures_are_not_retried() -> None:
    call, calls = _failing(*[TransientFailure(503, None)] * 3)
    with pytest.raises(ServiceUnavailable):
        await call_with_retries("Test", call, FAST)
    assert len(calls) == 3
    call, calls = _failing(Unprocessable("NOPE", "refused"))
    with pytest.raises(Unprocessable):
        await call_with_retries("Test", call, FAST)
    assert len(calls) == 1
