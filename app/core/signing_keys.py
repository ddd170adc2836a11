"""A provider's published public keys (Apple's JWKS, Google's certificates), fetched from a configurable URL and
cached for the response's Cache-Control max-age, bounded both ways; a token naming a key id the cache does not hold
refetches them once (at most once a minute), so a key rotation is picked up at once and a flood of made-up key ids
costs one fetch a minute, not one per request."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import httpx

from app.core.errors import ServiceUnavailable
from app.core.retry import call_with_retries, raise_for_transient
from app.settings import OutboundSettings

log = logging.getLogger(__name__)

K = TypeVar("K")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
# What a response without max-age is kept for, and the bounds of what a response may ask for.
DEFAULT_MAX_AGE_SECONDS = 3600.0
MIN_MAX_AGE_SECONDS = 60.0
MAX_MAX_AGE_SECONDS = 86400.0
REFETCH_COOLDOWN_SECONDS = 60.0
# Published key sets are a few kilobytes; a larger answer is not one.
MAX_KEYS_BYTES = 256 * 1024


def cache_seconds(cache_control: str | None) -> float:
    """How long to keep a key set: its max-age, within [MIN_MAX_AGE_SECONDS, MAX_MAX_AGE_SECONDS]."""
    match = _MAX_AGE.search(cache_control or "")
    seconds = float(match.group(1)) if match else DEFAULT_MAX_AGE_SECONDS
    return min(MAX_MAX_AGE_SECONDS, max(MIN_MAX_AGE_SECONDS, seconds))


class SigningKeys(Generic[K]):
    """The keys at `url` by key id, read by `parse` (which raises ValueError on anything it cannot read)."""

    def __init__(
        self,
        provider: str,
        url: str,
        parse: Callable[[bytes], Mapping[str, K]],
        http: httpx.AsyncClient,
        outbound: OutboundSettings,
        *,
        unavailable_code: str,
    ) -> None:
        self._provider, self._url, self._parse, self._http, self._outbound = provider, url, parse, http, outbound
        self._unavailable_code = unavailable_code
        self._keys: Mapping[str, K] = {}
        self._expires_at = 0.0  # time.monotonic()
        self._refetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def keys(self, kid: str | None) -> Mapping[str, K]:
        """The current keys; fetched when stale, or once more when `kid` is unknown (cooldown permitting).
        503 `unavailable_code` when the provider cannot be reached or answers something unreadable."""
        async with self._lock:
            now = time.monotonic()
            if now >= self._expires_at:
                await self._fetch()
            elif kid is not None and kid not in self._keys and self._may_refetch(now):
                self._refetched_at = now
                await self._fetch()
            return self._keys

    def _may_refetch(self, now: float) -> bool:
        return self._refetched_at is None or now - self._refetched_at >= REFETCH_COOLDOWN_SECONDS

    async def _fetch(self) -> None:
        async def attempt() -> httpx.Response:
            response = await self._http.get(self._url, timeout=self._outbound.timeout_seconds)
            return raise_for_transient(response)

        name = f"{self._provider} signing keys"
        response = await call_with_retries(name, attempt, self._outbound, unavailable_code=self._unavailable_code)
        try:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            if len(response.content) > MAX_KEYS_BYTES:
                raise ValueError("too large")
            keys = self._parse(response.content)
        except ValueError as exc:
            log.error("cannot read %s: %s", name, exc)
            raise ServiceUnavailable(
                self._unavailable_code, f"{self._provider} is unavailable; try again shortly."
            ) from None
        self._keys = keys
        self._expires_at = time.monotonic() + cache_seconds(response.headers.get("cache-control"))
