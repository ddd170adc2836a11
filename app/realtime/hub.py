"""One worker's sockets, and the LISTEN connection that feeds them every committed event.

Each worker process keeps one dedicated connection LISTENing on the events channel; it reconnects with backoff
when the connection drops, so every worker on every machine sees every committed event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from typing import Protocol

import asyncpg
import msgspec

from app.realtime.events import ACCOUNT_DELETED, CHANNEL, SESSION_REVOKED, Envelope
from app.realtime.pending import PendingSockets

log = logging.getLogger("cookcam.realtime")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_GOING_AWAY = 1001


class Socket(Protocol):
    """What the hub needs of a connected client (the WebSocket route provides it)."""

    user_id: uuid.UUID
    session_id: uuid.UUID

    async def send_event(self, payload: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Hub:
    def __init__(self, dsn: str, *, reconnect_max_seconds: float = 10.0) -> None:
        self._dsn = dsn
        self.node_id = uuid.uuid4().hex[:12]
        self._sockets: dict[uuid.UUID, set[Socket]] = defaultdict(set)
        # Sockets waiting for their first auth message, per client address.
        self.pending = PendingSockets()
        self._reconnect_max_seconds = reconnect_max_seconds
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._emptied = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._decoder = msgspec.json.Decoder(Envelope)
        self._encoder = msgspec.json.Encoder()

    # -- sockets ---------------------------------------------------------------------------------------------
    def add(self, socket: Socket) -> None:
        self._sockets[socket.user_id].add(socket)
        self._emptied.clear()

    def remove(self, socket: Socket) -> None:
        sockets = self._sockets.get(socket.user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[socket.user_id]
        if not self._sockets:
            self._emptied.set()

    def sockets_of(self, user_id: uuid.UUID) -> int:
        return len(self._sockets.get(user_id, ()))

    def socket_count(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    # -- delivery --------------------------------------------------------------------------------------------
    async def deliver(self, envelope: Envelope) -> None:
        sockets = list(self._sockets.get(envelope.user_id, ()))
        if not sockets:
            return
        payload = self._encoder.encode(envelope.event)
        await asyncio.gather(*(self._send(s, payload) for s in sockets))
        for socket in sockets:
            if self._ends_socket(envelope, socket):
                await socket.close(CLOSE_UNAUTHENTICATED, envelope.event.type)

    @staticmethod
    def _ends_socket(envelope: Envelope, socket: Socket) -> bool:
        if envelope.event.type == ACCOUNT_DELETED:
            return True
        return envelope.event.type == SESSION_REVOKED and envelope.event.data.get("session_id") == str(
            socket.session_id
        )

    async def _send(self, socket: Socket, payload: bytes) -> None:
        try:
            await socket.send_event(payload)
        except Exception:  # a socket that cannot take the event is gone; its handler removes it
            log.debug("dropping event for a closed socket", exc_info=True)

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            envelope = self._decoder.decode(payload if isinstance(payload, str | bytes) else str(payload))
        except msgspec.DecodeError:
            log.warning("ignoring malformed real-time payload")
            return
        if envelope.user_id not in self._sockets:
            return  # every worker hears every event; most are for sockets held by other workers
        task = asyncio.get_running_loop().create_task(self.deliver(envelope))
        # The loop keeps only weak references to tasks: hold each delivery until it is done.
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    # -- listener lifecycle ----------------------------------------------------------------------------------
    async def start(self, *, wait: bool = True) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="realtime-listener")
        if wait:
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def close_all(self, *, wait_seconds: float = 5.0) -> None:
        """Refuse new sockets, close every open one with 1001 and wait until their handlers have let go."""
        self._stopping = True
        sockets = [s for group in self._sockets.values() for s in group]
        await asyncio.gather(*(s.close(CLOSE_GOING_AWAY, "server shutting down") for s in sockets))
        if self._sockets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), wait_seconds)

    async def stop(self) -> None:
        await self.close_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def _listen_forever(self) -> None:
        delay = 0.5
        while not self._stopping:
            try:
                await self._listen_once()
                delay = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("real-time listener lost its connection (%s); reconnecting in %.1fs", exc, delay)
            self._listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_seconds)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, server_settings={"application_name": "cookcam-realtime"})
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
            self._listening.set()
            # asyncpg notices a dead socket only when it uses it, so probe it now and then.
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=15)
                if not lost.is_set():
                    await conn.execute("select 1", timeout=5)
        finally:
            if not conn.is_closed():
                await conn.close(timeout=2)
