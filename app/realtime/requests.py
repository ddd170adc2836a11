"""Requests that other domains answer on /api/v1/ws (live cooking sessions' `live.*`): registered by the web wiring
at start-up, so the socket knows only this shape and nothing of the domains behind it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SocketRequests:
    """Messages whose type starts with `prefix`, answered by `answer(raw_message, user_id)` with the reply to send,
    within a rate limit of their own (tighter than the socket's: they write to the database)."""

    prefix: str
    answer: Callable[[str, uuid.UUID], Awaitable[bytes]]
    per_second: float
    burst: int
