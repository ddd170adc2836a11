"""Log configuration: JSON lines in staging/production, readable text elsewhere; secrets and personal data scrubbed.

Every record carries the request id and user id of the request it belongs to (from context variables), and the
trace id of the span it was written in.
"""

from __future__ import annotations

import datetime
import functools
import logging
import re
import sys
import time
from typing import Any

import msgspec
from opentelemetry import trace

from app.core.process_id import current_process_id
from app.core.request_context import request_id_var, user_id_var
from app.settings import Settings

SECRET_KEYS = re.compile(
    r"(password|passwd|secret|token|authorization|cookie|receipt|signed_transaction|purchase_token|api_key|"
    r"confirm_password|private_key|card)",
    re.IGNORECASE,
)
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|secret|token|refresh_token|access_token|receipt)(\"?\s*[:=]\s*\"?)([^\s\",}]+)"
)
_SECRET_WORDS = re.compile(r"password|secret|token|receipt")
REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def scrub_text(text: str) -> str:
    # Every log line passes through here: run each pattern only when its cheap marker is present.
    lowered = text.lower()
    if "bearer" in lowered:
        text = BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    if "eyJ" in text:
        text = JWT_LIKE.sub(REDACTED, text)
    if ("=" in text or ":" in text) and _SECRET_WORDS.search(lowered):
        text = SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if "@" in text:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Asked for every field of every line, mostly of the same few names (route, method, status, request_id, ...).
    return SECRET_KEYS.search(key) is not None


def scrub_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(key, v) for v in value]
    return value


class ContextFilter(logging.Filter):
    """Adds the request and user ids of the current request, and the id of its trace when it is traced, to every
    record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        span = trace.get_current_span().get_span_context()
        record.trace_id = trace.format_trace_id(span.trace_id) if span.is_valid else ""
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with `extra=` (and the context ids), scrubbed."""
    attributes = record.__dict__
    return {
        key: scrub_value(key, attributes[key])
        for key in attributes.keys() - _STANDARD_ATTRS
        if attributes[key] not in ("", None)
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["exception"] = scrub_text(self.formatException(record.exc_info))
        return msgspec.json.encode(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # logging.Formatter's time of day, rendered once per second instead of once per line.
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs) if self.default_msec_format else text

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {scrub_text(record.getMessage())}"
        fields = _extra_fields(record)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(fields.items()))
        if record.exc_info:
            line += "\n" + scrub_text(self.formatException(record.exc_info))
        return line


def _record_with_process_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """A LogRecord as logging makes it, its process id included, without os.getpid()'s system call per record."""
    record = logging.LogRecord(*args, **kwargs)
    record.process = current_process_id()
    return record


def configure_logging(settings: Settings) -> None:
    logging.logProcesses = False  # the record factory below sets `process`
    logging.setLogRecordFactory(_record_with_process_id)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.is_production_like else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Access lines are ours (cookcam.access); silence duplicates from libraries.
    logging.getLogger("granian.access").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO, and store URLs carry purchase tokens: keep it to warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The stripe library logs two lines per API call at INFO: a reconciliation run would print 200,000 of them.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    # The embedded database's pgserver narrates every initdb and pg_ctl call (with their output) at INFO; its
    # failures still raise. LOG_LEVEL=DEBUG shows it, like the probes' access lines (app/core/edge.py).
    logging.getLogger("pgserver").setLevel(logging.NOTSET if settings.log_level == "DEBUG" else logging.WARNING)
