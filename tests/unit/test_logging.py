from __future__ import annotations

import json
import logging

from app.core.logging import ContextFilter, JsonFormatter, TextFormatter, configure_logging, scrub_text, scrub_value
from app.core.request_context import request_id_var, user_id_var
from app.settings import load_settings


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "t", **extra})
    ContextFilter().filter(record)
    return record


def test_secrets_and_emails_are_scrubbed_from_messages() -> None:
    text = scrub_text(
        "login ada.lovelace@example.com password=hunter2 Authorization: Bearer abc.def.ghi "
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"
    )
    assert "ada.lovelace" not in text and "a***@example.com" in text
    assert "hunter2" not in text
    assert "abc.def.ghi" not in text
    assert "eyJhbGciOiJIUzI1NiJ9" not in text


def test_secret_keys_in_structured_fields_are_redacted() -> None:
    scrubbed = scrub_value("body", {"email": "bob@example.com", "password": "x", "nested": {"refresh_token": "y"}})
    assert scrubbed == {
        "email": "b***@example.com",
        "password": "[redacted]",
        "nested": {"refresh_token": "[redacted]"},
    }
    assert scrub_value("receipt", "MIIT...") == "[redacted]"


def test_json_lines_carry_request_and_user_ids() -> None:
    request_id_var.set("req-1")
    user_id_var.set("user-1")
    try:
        line = JsonFormatter().format(_record("hello carol@example.com", route="/api/v1/auth/me", status=200))
    finally:
        request_id_var.set("")
        user_id_var.set("")
    entry = json.loads(line)
    assert entry["request_id"] == "req-1"
    assert entry["user_id"] == "user-1"
    assert entry["route"] == "/api/v1/auth/me"
    assert entry["status"] == 200
    assert entry["message"] == "hello c***@example.com"


def test_exceptions_are_logged_scrubbed() -> None:
    try:
        raise RuntimeError("password=letmein")
    except RuntimeError:
        import sys

        record = _record("boom", exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    assert "letmein" not in line and "RuntimeError" in line
    assert "letmein" not in TextFormatter().format(record)


def test_outbound_request_urls_are_not_logged() -> None:
    """httpx logs each request's URL at INFO; store URLs carry purchase tokens."""
    configure_logging(load_settings({"APP_ENV": "development", "LOG_LEVEL": "DEBUG"}))
    assert logging.getLogger("cookcam").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


def test_text_lines_write_the_time_as_logging_does() -> None:
    """TextFormatter renders the time of day once per second; every line still reads as logging.Formatter's."""
    ours, reference = TextFormatter(), logging.Formatter()
    # Within one second, across a second, back to an earlier one, and a second apart by a hair.
    for created in (1_764_000_000.0, 1_764_000_000.999, 1_764_000_001.5, 1_700_000_000.25, 1_764_000_001.0004):
        record = logging.makeLogRecord({"created": created, "msecs": int((created - int(created)) * 1000) + 0.0})
        assert ours.formatTime(record) == reference.formatTime(record)
        assert ours.formatTime(record, "%H:%M") == reference.formatTime(record, "%H:%M")
