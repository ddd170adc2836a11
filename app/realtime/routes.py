"""/api/v1/ws: authenticated with the same validator as HTTP; heartbeats; per-connection limits; requests that other
domains answer (live cooking sessions' live.*, registered as `SocketRequests`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from app.core.client_address import client_address, parse_networks
from app.core.errors import AppError
from app.core.identity import CurrentUser, authenticate
from app.core.request_context import current_request_id
from app.core.tokens import AccessTokenValidator, bearer_token
from app.db.types import ConnectionSource
from app.realtime.hub import CLOSE_GOING_AWAY, CLOSE_UNAUTHENTICATED, Hub
from app.realtime.requests import SocketRequests
from app.settings import Settings

log = logging.getLogger("cookcam.realtime")

CLOSE_AUTH_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013


class ClientMessage(msgspec.Struct, frozen=True):
    type: str
    token: str | None = None


@dataclass(frozen=True)
class SocketContext:
    """What one socket's handler uses of its worker."""

    hub: Hub
    settings: Settings
    connect: ConnectionSource
    token_validator: AccessTokenValidator
    requests: tuple[SocketRequests, ...]


class TokenBucket:
    """Allows `burst` messages at once and `rate` per second after that."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._capacity = rate, float(burst)
        self._tokens, self._last = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class ClientSocket:
    """A connected, authenticated client as the hub sees it."""

    def __init__(self, socket: WebSocket[Any, Any, Any], caller: CurrentUser) -> None:
        self._socket = socket
        self.user_id = caller.id
        self.session_id = caller.session_id
        self.token_expires_at = caller.token_expires_at
        self._send_lock = asyncio.Lock()
        self.closed = False
        # The task reading the client's messages; cancelled on close, because the ASGI server finishes the
        # connection only when the handler returns, and the handler waits in receive otherwise.
        self.reader: asyncio.Task[None] | None = None
        self.close_code, self.close_reason = 1000, ""

    async def send_event(self, payload: bytes) -> None:
        async with self._send_lock:
            # Text frames: browsers and the mobile client read JSON events as text.
            await self._socket.send_text(payload.decode())

    async def close(self, code: int, reason: str) -> None:
        """Ask the connection's handler to close it: the handler's own task sends the close frame, because
        granian delivers a close only from the task serving the connection."""
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_reason = code, reason
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()

    async def finish(self) -> None:
        with contextlib.suppress(Exception):  # the peer may already be gone
            await self._socket.close(code=self.close_code, reason=self.close_reason)


def _error_payload(code: str, message: str) -> bytes:
    """The HTTP error envelope's fields, as a WebSocket message."""
    return msgspec.json.encode({"type": "error", "code": code, "message": message, "request_id": current_request_id()})


async def _refuse(socket: WebSocket[Any, Any, Any], close_code: int, code: str, message: str) -> None:
    await socket.send_text(_error_payload(code, message).decode())
    await socket.close(code=close_code, reason=code)


class _MessageTooBig(Exception):
    """The first message was larger than WS_AUTH_MESSAGE_MAX_BYTES."""


async def _first_message_token(socket: WebSocket[Any, Any, Any], context: SocketContext) -> str | None:
    """Wait for {"type": "auth", "token": ...} as the first message, within the configured time."""
    limit = context.settings.ws.auth_message_max_bytes
    raw = await asyncio.wait_for(socket.receive_text(), timeout=context.settings.ws.auth_timeout_seconds)
    # Characters first: a message with more characters than the limit has more bytes, and is not encoded.
    if len(raw) > limit or len(raw.encode()) > limit:
        raise _MessageTooBig
    try:
        message = msgspec.json.decode(raw, type=ClientMessage)
    except msgspec.DecodeError:
        return None
    return message.token if message.type == "auth" else None


async def _token_by_message(socket: WebSocket[Any, Any, Any], context: SocketContext) -> str | None:
    """The token of a first {"type": "auth"} message, or None once the socket has been refused. While it waits, the
    socket counts against its address's WS_UNAUTHENTICATED_PER_ADDRESS: granian holds whatever message comes, whole."""
    peer = socket.client.host if socket.client else None
    trusted = parse_networks(context.settings.http.trusted_proxies)
    address = client_address(peer, socket.headers.get("x-forwarded-for"), trusted)
    pending = context.hub.pending
    if not pending.enter(address, context.settings.ws.unauthenticated_per_address):
        await _refuse(
            socket,
            CLOSE_RATE_LIMITED,
            "TOO_MANY_UNAUTHENTICATED",
            "Too many connections from this address are waiting to authenticate.",
        )
        return None
    try:
        token = await _first_message_token(socket, context)
    except TimeoutError:
        await _refuse(socket, CLOSE_AUTH_TIMEOUT, "AUTH_TIMEOUT", "Authenticate within the time allowed.")
        return None
    except _MessageTooBig:
        await _refuse(socket, CLOSE_MESSAGE_TOO_BIG, "MESSAGE_TOO_BIG", "The auth message is larger than allowed.")
        return None
    finally:
        pending.leave(address)
    if token is None:
        await _refuse(
            socket, CLOSE_UNAUTHENTICATED, "UNAUTHENTICATED", "The first message must be {type: auth, token}."
        )
    return token


async def _authenticate_socket(socket: WebSocket[Any, Any, Any], context: SocketContext) -> CurrentUser | None:
    token = bearer_token(socket.headers.get("authorization")) or socket.query_params.get("token")
    if token is None and not context.settings.ws.auth_by_message:
        # Nothing is read before authentication: granian would hold a whole message, however large, first.
        await _refuse(
            socket, CLOSE_UNAUTHENTICATED, "UNAUTHENTICATED", "Send the token in the Authorization header or ?token=."
        )
        return None
    if token is None and (token := await _token_by_message(socket, context)) is None:
        return None
    try:
        async with context.connect() as conn:
            return await authenticate(conn, context.token_validator, token)
    except AppError as exc:
        await _refuse(socket, CLOSE_UNAUTHENTICATED, exc.code, exc.message)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await _refuse(socket, CLOSE_TRY_AGAIN_LATER, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.")
    return None


async def _heartbeat(client: ClientSocket, interval: float) -> None:
    beat = msgspec.json.encode({"type": "heartbeat"})
    while not client.closed:
        await asyncio.sleep(interval)
        await client.send_event(beat)


async def _close_when_token_expires(client: ClientSocket) -> None:
    """A socket lives only as long as its access token; the client extends it by sending a fresh token."""
    while not client.closed:
        remaining = client.token_expires_at - time.time()
        if remaining <= 0:
            await client.send_event(_error_payload("TOKEN_EXPIRED", "The access token expired; reconnect or re-auth."))
            await client.close(CLOSE_UNAUTHENTICATED, "TOKEN_EXPIRED")
            return
        await asyncio.sleep(min(remaining, 60.0))


async def _reauthenticate(client: ClientSocket, token: str | None, context: SocketContext) -> None:
    """An {"type": "auth"} message on an open socket: a fresh token of the same session extends its life."""
    try:
        async with context.connect() as conn:
            caller = await authenticate(conn, context.token_validator, token or "")
    except AppError as exc:
        await client.send_event(_error_payload(exc.code, exc.message))
        return
    if (caller.id, caller.session_id) != (client.user_id, client.session_id):
        await client.send_event(_error_payload("TOKEN_MISMATCH", "Re-authenticate with a token of this session."))
        return
    client.token_expires_at = caller.token_expires_at
    await client.send_event(msgspec.json.encode({"type": "auth.ok", "expires_at": caller.token_expires_at}))


async def _serve_messages(socket: WebSocket[Any, Any, Any], client: ClientSocket, context: SocketContext) -> None:
    limits = context.settings.ws
    bucket = TokenBucket(limits.messages_per_second, limits.message_burst)
    # Requests other domains answer write to the database (live.* reach everyone in a session): buckets of their own.
    request_buckets = [(r, TokenBucket(r.per_second, r.burst)) for r in context.requests]
    while not client.closed:
        raw = await socket.receive_text()
        if not bucket.take():
            await client.close(CLOSE_RATE_LIMITED, "rate limited")
            return
        if len(raw) > limits.max_message_bytes:
            await client.close(CLOSE_MESSAGE_TOO_BIG, "message too big")
            return
        try:
            message = msgspec.json.decode(raw, type=ClientMessage)
        except msgspec.DecodeError:
            await client.send_event(_error_payload("MALFORMED_MESSAGE", "Messages are JSON objects with a type."))
            continue
        if message.type == "ping":
            await client.send_event(b'{"type":"pong"}')
        elif message.type == "auth":
            await _reauthenticate(client, message.token, context)
        elif handled := next(((r, b) for r, b in request_buckets if message.type.startswith(r.prefix)), None):
            requests, requests_bucket = handled
            if not requests_bucket.take():
                await client.close(CLOSE_RATE_LIMITED, "rate limited")
                return
            await client.send_event(await requests.answer(raw, client.user_id))
        else:
            await client.send_event(_error_payload("UNKNOWN_MESSAGE_TYPE", "Unknown message type."))


@websocket("/api/v1/ws")
async def realtime_socket(
    socket: WebSocket[Any, Any, Any],
    *,
    hub: NamedDependency[Hub],
    settings: NamedDependency[Settings],
    connect: NamedDependency[ConnectionSource],
    token_validator: NamedDependency[AccessTokenValidator],
    socket_requests: NamedDependency[tuple[SocketRequests, ...]],
) -> None:
    context = SocketContext(hub, settings, connect, token_validator, socket_requests)
    await socket.accept()
    if context.hub.stopping:
        await socket.close(code=CLOSE_GOING_AWAY, reason="server shutting down")
        return
    caller = await _authenticate_socket(socket, context)
    if caller is None:
        return
    if context.hub.sockets_of(caller.id) >= context.settings.ws.max_sockets_per_user:
        # Checked and added with no await between: concurrent handshakes on this worker cannot both pass.
        await _refuse(socket, CLOSE_RATE_LIMITED, "TOO_MANY_SOCKETS", "Too many open connections for this account.")
        return
    client = ClientSocket(socket, caller)
    context.hub.add(client)
    watchers = [
        asyncio.create_task(_heartbeat(client, context.settings.ws.heartbeat_seconds)),
        asyncio.create_task(_close_when_token_expires(client)),
    ]
    try:
        # `node` names the worker process (an opaque id), so clients and tests can tell workers apart.
        ready = {"type": "ready", "user_id": str(caller.id), "node": context.hub.node_id}
        await client.send_event(msgspec.json.encode(ready))
        client.reader = asyncio.create_task(_serve_messages(socket, client, context))
        # wait() rather than await: the reader is cancelled when the hub closes the socket, and that is not an error.
        await asyncio.wait({client.reader})
        if not client.reader.cancelled() and not isinstance(client.reader.exception(), WebSocketDisconnect | None):
            log.error("WebSocket reader failed", exc_info=client.reader.exception())
    except WebSocketDisconnect:
        pass
    finally:
        for watcher in watchers:
            watcher.cancel()
        context.hub.remove(client)
        await client.finish()
