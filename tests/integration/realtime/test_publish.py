"""publish() inside a transaction reaches listening hubs only when the transaction commits."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec

from app.realtime.events import ACCOUNT_DELETED, SESSION_REVOKED, Envelope, RealtimeEvent, publish
from app.realtime.hub import CLOSE_GOING_AWAY, CLOSE_UNAUTHENTICATED, Hub


class RecordingSocket:
    """A client socket as the hub sees it, recording what it was sent."""

    def __init__(self, hub: Hub, user_id: uuid.UUID, session_id: uuid.UUID | None = None) -> None:
        self.hub = hub
        self.user_id = user_id
        self.session_id = session_id or uuid.uuid4()
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.closed_with: int | None = None

    async def send_event(self, payload: bytes) -> None:
        await self.events.put(msgspec.json.decode(payload))

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code
        self.hub.remove(self)  # as the WebSocket handler does when its connection ends


async def _started_hub(dsn: str) -> Hub:
    hub = Hub(dsn)
    await hub.start()
    return hub


async def test_committed_event_reaches_every_hub_and_only_its_user(database_url, db: asyncpg.Connection) -> None:
    first, second = await _started_hub(database_url), await _started_hub(database_url)
    user, stranger = uuid.uuid4(), uuid.uuid4()
    on_first, on_second, other = (
        RecordingSocket(first, user),
        RecordingSocket(second, user),
        RecordingSocket(second, stranger),
    )
    first.add(on_first)
    second.add(on_second)
    second.add(other)
    try:
        async with db.transaction():
            await publish(db, user, RealtimeEvent("xp.awarded", {"amount": 10}))
        for socket in (on_first, on_second):
            event = await asyncio.wait_for(socket.events.get(), timeout=5)
            assert event == {"type": "xp.awarded", "data": {"amount": 10}}
        assert other.events.empty()
    finally:
        await first.stop()
        await second.stop()


async def test_rolled_back_event_is_never_delivered(database_url, db: asyncpg.Connection) -> None:
    hub = await _started_hub(database_url)
    user = uuid.uuid4()
    socket = RecordingSocket(hub, user)
    hub.add(socket)
    try:
        transaction = db.transaction()
        await transaction.start()
        await publish(db, user, RealtimeEvent("never.sent"))
        await transaction.rollback()
        async with db.transaction():
            await publish(db, user, RealtimeEvent("sent.after"))
        event = await asyncio.wait_for(socket.events.get(), timeout=5)
        assert event["type"] == "sent.after"  # the rolled-back one, published first, never arrived
    finally:
        await hub.stop()


async def test_session_revocation_closes_only_that_sessions_sockets(database_url, db: asyncpg.Connection) -> None:
    hub = await _started_hub(database_url)
    user = uuid.uuid4()
    revoked, kept = RecordingSocket(hub, user), RecordingSocket(hub, user)
    hub.add(revoked)
    hub.add(kept)
    try:
        await publish(db, user, RealtimeEvent(SESSION_REVOKED, {"session_id": str(revoked.session_id)}))
        await asyncio.wait_for(kept.events.get(), timeout=5)
        await asyncio.sleep(0.05)
        assert revoked.closed_with == CLOSE_UNAUTHENTICATED
        assert kept.closed_with is None
        await publish(db, user, RealtimeEvent(ACCOUNT_DELETED))
        await asyncio.wait_for(kept.events.get(), timeout=5)
        await asyncio.sleep(0.05)
        assert kept.closed_with == CLOSE_UNAUTHENTICATED
    finally:
        await hub.stop()


async def test_listener_reconnects_after_its_connection_is_killed(database_url, db: asyncpg.Connection) -> None:
    hub = Hub(database_url, reconnect_max_seconds=0.5)
    await hub.start()
    user = uuid.uuid4()
    socket = RecordingSocket(hub, user)
    hub.add(socket)
    try:
        killed = await db.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'cookcam-realtime' and datname = current_database()"
        )
        assert killed >= 1
        for _ in range(100):
            await publish(db, user, RealtimeEvent("after.reconnect"))
            try:
                event = await asyncio.wait_for(socket.events.get(), timeout=0.2)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the listener never came back")
        assert event["type"] == "after.reconnect"
    finally:
        await hub.stop()


async def test_stop_closes_sockets_with_going_away(database_url) -> None:
    hub = await _started_hub(database_url)
    socket = RecordingSocket(hub, uuid.uuid4())
    hub.add(socket)
    await hub.stop()
    assert socket.closed_with == CLOSE_GOING_AWAY


async def test_oversized_event_is_refused(db: asyncpg.Connection) -> None:
    try:
        await publish(db, uuid.uuid4(), RealtimeEvent("too.big", {"blob": "x" * 5000}))
    except ValueError as exc:
        assert "keep payloads to ids" in str(exc)
    else:
        raise AssertionError("an oversized event was published")


async def test_any_connection_can_publish_and_the_envelope_decodes(database_url) -> None:
    """publish() needs nothing of the app's pool (no jsonb codec): the bench and one-off scripts publish on plain
    connections, and the envelope written by PostgreSQL decodes into the hub's Envelope."""
    user_id = uuid.uuid4()
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    plain = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("cookcam_events", lambda *args: received.put_nowait(args[3]))
        await publish(plain, user_id, RealtimeEvent("test.plain", {"n": 1, "when": "2026-12-07T00:00:00+00:00"}))
        envelope = msgspec.json.decode(await asyncio.wait_for(received.get(), timeout=5), type=Envelope)
    finally:
        await listener.close()
        await plain.close()
    assert envelope == Envelope(user_id, RealtimeEvent("test.plain", {"n": 1, "when": "2026-12-07T00:00:00+00:00"}))
