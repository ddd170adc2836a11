"""The live.* requests on /api/v1/ws: decoded strictly, run through the service on a pooled connection, answered
with live.ok (the session after the change) or live.error (the error envelope's fields). A bad request is answered
and the socket stays open; the socket's rate and size limits are applied before this (app/realtime/routes.py)."""

from __future__ import annotations

import logging
import re
import uuid

import asyncpg
import msgspec
import redis.exceptions

from app.core.errors import AppError, ErrorDetail
from app.core.ratelimit import RateLimiter
from app.core.request_context import current_request_id
from app.db.types import Connection, ConnectionSource
from app.live import service
from app.live.schemas import (
    REQUEST_TYPES,
    CreateSession,
    EndSession,
    InviteToSession,
    JoinSession,
    LeaveSession,
    LiveError,
    LiveOk,
    LiveRequest,
    Ref,
    SendMessage,
    SetStep,
)
from app.realtime.requests import SocketRequests
from app.settings import LiveSettings

log = logging.getLogger("cookcam.live")

PREFIX = "live."


class _Head(msgspec.Struct, frozen=True):
    """What every request has: its type and, optionally, the client's ref."""

    type: str
    ref: Ref | None = None


_head_decoder = msgspec.json.Decoder(_Head)
_request_decoder: msgspec.json.Decoder[LiveRequest] = msgspec.json.Decoder(LiveRequest)
_encoder = msgspec.json.Encoder()
_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def _error(exc: AppError, *, action: str | None = None, ref: Ref | None = None) -> bytes:
    reply = LiveError(
        code=exc.code,
        message=exc.message,
        request_id=current_request_id(),
        action=action,
        ref=ref,
        details=exc.details,
    )
    return _encoder.encode(reply)


def _invalid_request(exc: msgspec.ValidationError) -> AppError:
    """msgspec's complaint ("Expected `str`, got `int` - at `$.title`") as VALIDATION_ERROR naming the field."""
    text = str(exc)
    match = _AT_PATH.search(text)
    field = match.group(1) if match and match.group(1) else None
    message = f"Invalid value for {field}." if field else "The request has invalid values."
    return AppError("VALIDATION_ERROR", message, details=[ErrorDetail(message=text, field=field)])


async def _run(
    conn: Connection,
    limits: LiveSettings,
    invitations: service.InvitationLimits,
    user_id: uuid.UUID,
    request: LiveRequest,
) -> LiveOk:
    action = str(type(request).__struct_config__.tag)
    match request:
        case CreateSession():
            view = await service.create(
                conn, limits, user_id, title=request.title, visibility=request.visibility, recipe_id=request.recipe_id
            )
        case InviteToSession():
            view = await service.invite(conn, invitations, user_id, request.session_id, request.user_id)
        case JoinSession():
            view = await service.join(conn, user_id, request.session_id)
        case LeaveSession():
            view = await service.leave(conn, user_id, request.session_id)
        case SetStep():
            view = await service.set_step(conn, user_id, request.session_id, request.step)
        case SendMessage():
            sent = await service.send_message(conn, user_id, request.session_id, request.body)
            return LiveOk(action=action, session=sent.session, ref=request.ref, message_id=sent.message_id)
        case EndSession():
            view = await service.end(conn, user_id, request.session_id)
    return LiveOk(action=action, session=view, ref=request.ref)


def _request(head: _Head, raw: str) -> LiveRequest:
    if head.type not in REQUEST_TYPES:
        raise AppError("UNKNOWN_MESSAGE_TYPE", "Unknown message type.")
    try:
        return _request_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid_request(exc) from None


def _database_failure(action: str, exc: Exception) -> AppError:
    """Mapped as HTTP maps them (app/core/errors.py): contention and unavailability are the client's to retry."""
    state = getattr(exc, "sqlstate", "") or ""
    if state in ("40001", "40P01"):
        return AppError("CONTENTION", "The server is busy; try again.")
    unavailable = state.startswith(("08", "57P")) or state == "53300"
    if isinstance(exc, asyncpg.PostgresError) and not unavailable:
        log.error("live request %s failed", action, exc_info=exc)
        return AppError("INTERNAL_ERROR", "Something went wrong on our side.")
    return AppError("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; try again.")


def socket_requests(connect: ConnectionSource, limits: LiveSettings, limiter: RateLimiter) -> SocketRequests:
    """live.* on the socket, registered by the web wiring, within LIVE_REQUESTS_PER_SECOND and LIVE_REQUEST_BURST."""
    invitations = service.InvitationLimits.create(limiter, limits)

    async def answer_on_pool(raw: str, user_id: uuid.UUID) -> bytes:
        return await answer(raw, user_id, connect, limits, invitations)

    return SocketRequests(PREFIX, answer_on_pool, limits.requests_per_second, limits.request_burst)


async def answer(
    raw: str,
    user_id: uuid.UUID,
    connect: ConnectionSource,
    limits: LiveSettings,
    invitations: service.InvitationLimits,
) -> bytes:
    """The reply to one live.* request from `user_id`."""
    try:
        head = _head_decoder.decode(raw)
    except msgspec.ValidationError as exc:  # only `ref` can be wrong here: the socket read the type already
        return _error(_invalid_request(exc))
    try:
        request = _request(head, raw)
        async with connect() as conn:
            return _encoder.encode(await _run(conn, limits, invitations, user_id, request))
    except AppError as exc:
        return _error(exc, action=head.type, ref=head.ref)
    except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
        return _error(_database_failure(head.type, exc), action=head.type, ref=head.ref)
    except redis.exceptions.RedisError as exc:  # the rate-limit counters (RATELIMIT_REDIS_URL), as HTTP maps it
        log.warning("redis unavailable: %s", type(exc).__name__)
        unavailable = AppError("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; try again.")
        return _error(unavailable, action=head.type, ref=head.ref)
