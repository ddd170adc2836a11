"""Analytics requests and answers: tracked events and the caller's dashboard."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

import msgspec

# `\Z`, not `$`: Python's `$` also matches before a trailing newline ("recipe_cooked\n").
EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.:-]*\Z")]
Period = Literal["day", "week", "month", "all"]


class TrackEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One event the app saw. event_data and metadata are JSON objects of at most 4 KB (compact JSON), depth 5 and
    50 keys each; nothing here awards XP or changes anything else."""

    event_type: EventType
    event_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class TrackResponse(msgspec.Struct, frozen=True):
    accepted: bool  # always true: the event was stored


class EventTypeCount(msgspec.Struct, frozen=True):
    event_type: str
    count: int


class Dashboard(msgspec.Struct, frozen=True):
    """The caller's figures for one period: [from, to) in UTC."""

    period: Period
    from_: datetime.datetime = msgspec.field(name="from")
    to: datetime.datetime
    scans: int
    recipes_created: int
    recipes_saved: int
    recipes_favorited: int
    recipes_rated: int  # ratings given or changed in the period
    xp_earned: int
    total_xp: int  # now, whatever the period
    level: int
    events_tracked: int
    events_by_type: list[EventTypeCount]  # the 20 most frequent, most frequent first
