"""Outbound calls to other companies' APIs, retried with stamina on transient failures only.

Transient: timeouts and connection errors, HTTP 5xx and 429. Backoff is exponential with jitter from
OUTBOUND_RETRY_INITIAL_SECONDS up to OUTBOUND_RETRY_MAX_SECONDS, for at most OUTBOUND_RETRY_ATTEMPTS attempts; a
Retry-After is honoured when it fits under the maximum, and otherwise ends the retries at once. Exhausted transient
failures answer 503 with a Retry-After; permanent ones (other 4xx) are the caller's to interpret and are never retried.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import stamina

from app.core.errors import ServiceUnavailable
from app.settings import OutboundSettings

log = logging.getLogger("cookcam.outbound")

T = TypeVar("T")
DEFAULT_RETRY_AFTER_SECONDS = 30


class TransientFailure(Exception):
    """A provider answered 5xx or 429; `retry_after` in seconds when it said how long to wait."""

    def __init__(self, status_code: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


def raise_for_transient(
    response: httpx.Response, retry_after: Callable[[str | None], float | None] | None = None
) -> httpx.Response:
    """Raise TransientFailure for 5xx and 429; return any other response for the caller to read. `retry_after`
    reads the provider's Retry-After when it is not HTTP's (delta-seconds or a date)."""
    if response.status_code == 429 or response.status_code >= 500:
        read = retry_after or retry_after_seconds
        raise TransientFailure(response.status_code, read(response.headers.get("retry-after")))
    return response


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.datetime.now(datetime.UTC)).total_seconds())


async def call_with_retries(
    provider: str,
    call: Callable[[], Awaitable[T]],
    settings: OutboundSettings,
    *,
    unavailable_code: str = "PAYMENT_PROVIDER_UNAVAILABLE",
) -> T:
    """Run `call` until it succeeds, fails permanently, or the attempts run out (then 503 `unavailable_code`)."""

    def backoff(exc: Exception) -> bool | float:
        if isinstance(exc, httpx.TransportError):
            return True
        if isinstance(exc, TransientFailure):
            if exc.retry_after is None:
                return True
            return exc.retry_after if exc.retry_after <= settings.retry_max_seconds else False
        return False

    try:
        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=settings.retry_attempts,
            timeout=None,
            wait_initial=settings.retry_initial_seconds,
            wait_max=settings.retry_max_seconds,
            wait_jitter=settings.retry_initial_seconds,
        ):
            with attempt:
                return await call()
    except (httpx.TransportError, TransientFailure) as exc:
        wait = exc.retry_after if isinstance(exc, TransientFailure) and exc.retry_after else None
        log.warning("%s unavailable after retries: %s", provider, type(exc).__name__)
        raise ServiceUnavailable(
            unavailable_code,
            f"{provider} is unavailable; try again shortly.",
            retry_after_seconds=math.ceil(wait) if wait else DEFAULT_RETRY_AFTER_SECONDS,
            provider_retry_after=wait,
        ) from None
    raise AssertionError("unreachable: stamina either returns or raises")
