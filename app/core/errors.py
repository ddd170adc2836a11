"""Domain errors and the one error envelope.

Services raise `AppError` subclasses with a stable code; this module alone decides the HTTP status and body.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import asyncpg
import msgspec
import redis.exceptions
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from app.core.request_context import current_request_id

log = logging.getLogger("cookcam.errors")

# What an error's details may echo of the request: a field name or message longer than this is cut (ending in "…"),
# so a 1 MB value sent in error does not come back as a 1 MB answer.
DETAIL_MAX_CHARS = 200


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    message: str
    field: str | None = None


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None


class AppError(Exception):
    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class PaymentRequired(AppError):
    """The request takes effect only once a payment is made (e.g. a plan change waiting for its invoice)."""

    status_code = 402


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Unprocessable(AppError):
    status_code = 422


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, code: str, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(code, message, headers={"Retry-After": str(max(1, retry_after_seconds))})
        self.retry_after_seconds = retry_after_seconds


class BadGateway(AppError):
    """Another company's service refused us or answered nonsense (our configuration, or their fault)."""

    status_code = 502


class ServiceUnavailable(AppError):
    """503. `provider_retry_after`: when another company's service asked us to wait, how long, in seconds (callers
    that pace their own calls to it, like reconciliation, follow it)."""

    status_code = 503

    def __init__(
        self, code: str, message: str, *, retry_after_seconds: int = 5, provider_retry_after: float | None = None
    ) -> None:
        super().__init__(code, message, headers={"Retry-After": str(retry_after_seconds)})
        self.provider_retry_after = provider_retry_after


def _bounded(text: str) -> str:
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 1] + "…"


def _bounded_detail(detail: ErrorDetail) -> ErrorDetail:
    field = _bounded(detail.field) if detail.field is not None else None
    return ErrorDetail(message=_bounded(detail.message), field=field)


def error_body(code: str, message: str, details: list[ErrorDetail] | None = None) -> bytes:
    """The envelope's JSON, for the layers outside Litestar (app/core/edge.py) as well."""
    bounded = [_bounded_detail(d) for d in details] if details else None
    return msgspec.json.encode(ErrorBody(code=code, message=message, request_id=current_request_id(), details=bounded))


def envelope(
    status_code: int,
    code: str,
    message: str,
    *,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    return Response(
        content=error_body(code, message, details), status_code=status_code, headers=headers, media_type=MediaType.JSON
    )


# PostgreSQL stores no NUL character in text or jsonb: refused wherever one arrives (400 INVALID_TEXT).
NUL_MESSAGE = "Text in a request may not contain NUL characters."
MALFORMED_JSON = ("MALFORMED_JSON", "The request body is not valid JSON.")


class InvalidText(BadRequest):
    def __init__(self, message: str = NUL_MESSAGE) -> None:
        super().__init__("INVALID_TEXT", message)


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    return envelope(exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers)


# Litestar's own HTTP errors (routing, body size, validation) mapped to stable codes.
_HTTP_CODES = {
    400: ("BAD_REQUEST", "The request could not be understood."),
    401: ("UNAUTHENTICATED", "Sign in to continue."),
    403: ("FORBIDDEN", "You are not allowed to do that."),
    404: ("NOT_FOUND", "There is nothing at this address."),
    405: ("METHOD_NOT_ALLOWED", "This address does not accept that method."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The request body has an unsupported content type."),
    429: ("RATE_LIMITED", "Too many requests; try again later."),
}


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def _validation_details(extra: Any) -> list[ErrorDetail]:
    details = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, source, message = item.get("key"), item.get("source"), str(item.get("message", "invalid value"))
        if source == "body" and key == "data":
            # Litestar names the whole body "data": name the unknown field when that is the problem, else "body".
            unknown = _UNKNOWN_FIELD.search(message)
            key = unknown.group(1) if unknown else "body"
            message = "The request body is required." if message == "'data'" else message
        # Litestar's sources are str enums (ParamType.QUERY): name them by value ("query.period").
        source = getattr(source, "value", source)
        field = f"{source}.{key}" if source and key and source != "body" else key
        details.append(ErrorDetail(message=message, field=field))
    return details


def _is_malformed_body(exc: HTTPException) -> bool:
    return not isinstance(exc, ValidationException) and isinstance(exc.__cause__, SerializationException)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if _is_malformed_body(exc):
        return envelope(400, *MALFORMED_JSON, headers=headers)
    if isinstance(exc, ValidationException):
        details = [_bounded_detail(d) for d in _validation_details(exc.extra)]
        field_list = ", ".join(d.field for d in details if d.field)
        message = f"Invalid value for {field_list}." if field_list else "The request has invalid values."
        return envelope(422, "VALIDATION_ERROR", message, details=details or None, headers=headers)
    code, message = _HTTP_CODES.get(status, ("HTTP_ERROR", "The request could not be completed."))
    if status >= 500:
        log.error("HTTP %s raised inside the framework: %s", status, exc.detail)
        code, message = "INTERNAL_ERROR", "Something went wrong on our side."
    return envelope(status, code, message, headers=headers)


_OUT_OF_RANGE = (422, "CONSTRAINT_VIOLATION", "A value is out of the allowed range.")
# SQLSTATEs a service did not translate itself that are the client's doing: status, code, message.
_CLIENT_SQLSTATES: dict[str, tuple[int, str, str]] = {
    "23505": (409, "ALREADY_EXISTS", "That already exists."),
    "23503": (409, "REFERENCE_CONFLICT", "That refers to something that does not exist or is in use."),
    **dict.fromkeys(("23514", "23502", "22001", "22003", "22P02", "22007", "22008"), _OUT_OF_RANGE),
    # character_not_in_repertoire (a NUL in text), untranslatable_character (\u0000 in jsonb)
    **dict.fromkeys(("22021", "22P05"), (400, "INVALID_TEXT", NUL_MESSAGE)),
}


def _database_error(_: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[bytes]:
    state = "22003" if _argument_out_of_range(exc) else getattr(exc, "sqlstate", "") or ""
    if (client := _CLIENT_SQLSTATES.get(state)) is not None:
        return envelope(*client)
    if state in ("40001", "40P01"):
        # Concurrent transactions conflicted; the client may simply try again.
        return envelope(503, "CONTENTION", "The server is busy; try again.", headers={"Retry-After": "1"})
    if state.startswith("08") or state.startswith("57P") or state == "53300":
        return _unavailable(_, exc)
    return _unexpected(_, exc)


def _argument_out_of_range(exc: asyncpg.PostgresError) -> bool:
    """asyncpg refused to encode a parameter because the number does not fit the column's type (an id of 2**31 for
    an integer column): the client's value, like PostgreSQL's own 22003. Any other encoding failure is our bug."""
    return isinstance(exc, asyncpg.DataError) and isinstance(exc.__cause__, OverflowError)


def _unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("database unavailable: %s", type(exc).__name__)
    return envelope(
        503, "DATABASE_UNAVAILABLE", "The service is temporarily unavailable.", headers={"Retry-After": "5"}
    )


def _raised_by_database_driver(exc: BaseException) -> bool:
    return any(
        frame.f_globals.get("__name__", "").startswith("asyncpg.") for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def _os_error(request: Request[Any, Any, Any], exc: OSError) -> Response[bytes]:
    """Connecting to the database (refused, reset, unknown host, the pool's acquire timeout, a command timeout)
    fails inside asyncpg: an outage. Any other OSError (TimeoutError included) is not the database's, whatever its
    errno: e.g. datetime's "Value too large" for a timestamp of 2**62 seconds. It is then a bug like any other."""
    if _raised_by_database_driver(exc):
        return _unavailable(request, exc)
    return _unexpected(request, exc)


def _invalid_utf8(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[bytes]:
    # Bytes a client sent that are not UTF-8, decoded by a route or a library itself (JSON bodies are refused before,
    # as MALFORMED_JSON). Decoding text is where client input fails; a provider's answer is decoded by httpx.
    return envelope(400, "INVALID_TEXT", "The request contains bytes that are not UTF-8 text.")


def _redis_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("redis unavailable: %s", type(exc).__name__)
    return envelope(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.", headers={"Retry-After": "5"})


def _recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    # msgspec gives up on JSON nested about a thousand deep while Litestar decodes a body (before any validation):
    # the client's doing, not a bug. Any other RecursionError is one.
    if "deserializing" in str(exc):
        return envelope(400, "JSON_TOO_DEEP", "The request body is nested too deeply.")
    return _unexpected(request, exc)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled error", exc_info=exc)
    return envelope(500, "INTERNAL_ERROR", "Something went wrong on our side.")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: _app_error,
    HTTPException: _http_error,
    asyncpg.PostgresError: _database_error,
    asyncpg.InterfaceError: _unavailable,
    asyncpg.exceptions.ConnectionDoesNotExistError: _unavailable,
    OSError: _os_error,  # TimeoutError is one (asyncio.TimeoutError is TimeoutError)
    UnicodeDecodeError: _invalid_utf8,
    redis.exceptions.RedisError: _redis_unavailable,
    RecursionError: _recursion,
    Exception: _unexpected,
}
