"""Real-time events: small payloads (ids + type); clients resync over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from app.db.queries import realtime as q
from app.db.types import Connection

CHANNEL = "cookcam_events"
# PostgreSQL caps NOTIFY payloads at 8000 bytes; events must stay far below that.
MAX_PAYLOAD_BYTES = 4000

# Event types the real-time hub itself acts on, besides delivering them.
SESSION_REVOKED = "session.revoked"
ACCOUNT_DELETED = "account.deleted"


class RealtimeEvent(msgspec.Struct, frozen=True):
    type: str
    data: dict[str, Any] = {}


class Envelope(msgspec.Struct, frozen=True):
    """What travels through pg_notify: the recipient and the event. The database writes it (cookcam_user_event,
    migration 0057), for what is published here and for the notices its own functions send."""

    user_id: uuid.UUID
    event: RealtimeEvent


def fits(event: RealtimeEvent) -> bool:
    """Whether `event` is small enough to publish (every recipient's id has the same length)."""
    return len(msgspec.json.encode(Envelope(user_id=uuid.UUID(int=0), event=event))) <= MAX_PAYLOAD_BYTES


def _data(event: RealtimeEvent) -> str:
    """The event's data as JSON text, once the event is known to fit."""
    if not fits(event):
        raise ValueError(f"real-time event {event.type} is over {MAX_PAYLOAD_BYTES} bytes; keep payloads to ids")
    return msgspec.json.encode(event.data).decode()


async def publish(conn: Connection, user_id: uuid.UUID, event: RealtimeEvent) -> None:
    """Queue `event` for `user_id`'s sockets on every worker; it is delivered only if the transaction commits."""
    await q.notify_user_event(conn, user_id=user_id, event_type=event.type, event_data=_data(event))


async def publish_each(conn: Connection, user_ids: Iterable[uuid.UUID], event: RealtimeEvent) -> None:
    """publish() `event` to each of `user_ids` (events are addressed to one user each), in one round trip."""
    recipients = list(dict.fromkeys(user_ids))
    if recipients:
        await q.notify_user_events(conn, user_ids=recipients, event_type=event.type, event_data=_data(event))
