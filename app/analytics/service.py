"""Tracked events (bounded, rate-limited, stored as sent, never a source of XP) and the caller's dashboard."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec

from app.analytics.schemas import Dashboard, EventTypeCount, Period, TrackEvent, TrackResponse
from app.core import limits
from app.core.errors import AppError, ErrorDetail, Unprocessable
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.queries import analytics as q
from app.db.types import Connection
from app.gamification.levels import level_for
from app.settings import AnalyticsSettings

# Each of event_data and metadata: compact JSON (UTF-8) of at most this many bytes, nested at most this deep (the
# object itself is level 1; each object or array inside it one more), with at most this many keys in all its objects.
MAX_PAYLOAD_BYTES = 4096
MAX_PAYLOAD_DEPTH = 5
MAX_PAYLOAD_KEYS = 50
# The route's body limit: both objects at their largest, escaped generously, plus the event type.
MAX_BODY_BYTES = 16 * 1024

_encoder = msgspec.json.Encoder()


class PayloadTooLarge(AppError):
    status_code = 413


def _rejected(code: str, field: str, message: str) -> Unprocessable:
    return Unprocessable(code, message, details=[ErrorDetail(message=message, field=field)])


def _keys_in(field: str, value: Any, depth: int) -> int:
    """The keys of every object in `value`, refusing nesting deeper than MAX_PAYLOAD_DEPTH. Never recurses further
    than one level past the limit. (NUL characters, which jsonb cannot store, never get here: every request body
    with one is refused as it is decoded, app/core/json_body.py.)"""
    if not isinstance(value, dict | list):
        return 0
    if depth > MAX_PAYLOAD_DEPTH:
        raise _rejected(
            "ANALYTICS_PAYLOAD_TOO_DEEP",
            field,
            f"{field} may nest objects and arrays at most {MAX_PAYLOAD_DEPTH} deep.",
        )
    if isinstance(value, list):
        return sum(_keys_in(field, item, depth + 1) for item in value)
    keys = len(value)
    for key, item in value.items():
        keys += _keys_in(field, key, depth) + _keys_in(field, item, depth + 1)
    return keys


def checked_payload(field: str, value: dict[str, Any] | None) -> dict[str, Any]:
    """`value` (an empty object when absent) if it is within the limits; 422 or 413 naming the field otherwise."""
    if value is None:
        return {}
    if _keys_in(field, value, 1) > MAX_PAYLOAD_KEYS:
        raise _rejected("ANALYTICS_PAYLOAD_TOO_MANY_KEYS", field, f"{field} may hold at most {MAX_PAYLOAD_KEYS} keys.")
    if len(_encoder.encode(value)) > MAX_PAYLOAD_BYTES:
        message = f"{field} may be at most {MAX_PAYLOAD_BYTES} bytes of JSON."
        raise PayloadTooLarge(
            "ANALYTICS_PAYLOAD_TOO_LARGE", message, details=[ErrorDetail(message=message, field=field)]
        )
    return value


def rate_limits(settings: AnalyticsSettings) -> tuple[RateLimit, RateLimit]:
    return (
        RateLimit("analytics:minute", settings.events_per_minute, 60),
        RateLimit("analytics:day", settings.events_per_day, 24 * 3600),  # UTC days: windows start at the epoch
    )


async def track(
    conn: Connection, limiter: RateLimiter, settings: AnalyticsSettings, user_id: uuid.UUID, event: TrackEvent
) -> TrackResponse:
    """Count the attempt against the account's limits, check the payload, store the event. Nothing else happens:
    no XP, no streak, no real-time event, whatever the type or the data say."""
    await limiter.check(conn, [(rule, str(user_id)) for rule in rate_limits(settings)])
    event_data = checked_payload("event_data", event.event_data)
    metadata = checked_payload("metadata", event.metadata)
    await q.insert_analytics_event(
        conn, user_id=user_id, event_type=event.event_type, event_data=event_data, metadata=metadata
    )
    return TrackResponse(accepted=True)


def period_bounds(
    period: Period, now: datetime.datetime, member_since: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """[from, to) in UTC: today, this ISO week (Monday 00:00 to the next Monday), this calendar month, or everything
    from the account's creation until now."""
    if period == "all":
        return min(member_since, now), now
    return limits.period_bounds(period, now)


async def dashboard(
    conn: Connection,
    user_id: uuid.UUID,
    *,
    period: Period,
    member_since: datetime.datetime,
    now: datetime.datetime,
) -> Dashboard:
    start, end = period_bounds(period, now, member_since)
    row = await q.get_analytics_dashboard(conn, user_id=user_id, period_start=start, period_end=end)
    assert row is not None  # scalar subqueries always make a row
    return Dashboard(
        period=period,
        from_=start,
        to=end,
        scans=row.scans,
        recipes_created=row.recipes_created,
        recipes_saved=row.recipes_saved,
        recipes_favorited=row.recipes_favorited,
        recipes_rated=row.recipes_rated,
        xp_earned=row.xp_earned,
        total_xp=row.total_xp,
        level=level_for(row.total_xp),
        events_tracked=row.events_tracked,
        events_by_type=msgspec.convert(row.events_by_type, list[EventTypeCount]),
    )
