"""The sender: drains `email_outbox` through SMTP (aiosmtplib) or, with no SMTP host configured, into .eml files.

Delivery is at least once, never at most once. A run claims due rows with a lease and commits the claim at once
(`FOR UPDATE SKIP LOCKED`: two senders never claim the same row), sends each message holding no database connection,
then marks it sent, fenced by the claim's attempt number. A sender that dies after its claim leaves a lease that
runs out; the next run claims the row again and sends it. A sender that dies after the relay accepted a message but
before marking it sent makes the next run send it again: SMTP has no way to ask a relay whether it already took a
message, so exactly once is impossible. Each resend carries the row's stable Message-ID, so the duplicate is
recognisable (mail clients and many relays fold messages with the same Message-ID), and only the window between
the relay's "250 OK" and one UPDATE is exposed.

A failed attempt waits MAIL_RETRY_INITIAL_SECONDS, doubling each time up to MAIL_RETRY_MAX_SECONDS; after
MAIL_MAX_ATTEMPTS, or at once when the relay refuses permanently (a 5xx reply), the row is kept as `dead` with its
last error for inspection. Nothing logged here names a recipient or holds a message body (links carry tokens).
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from app.db.queries import email as q
from app.db.types import ConnectionSource
from app.settings import MailSettings

log = logging.getLogger("cookcam.mail")

# Stop sending from a batch when less than this is left of the claim's lease beyond one SMTP timeout: the rest are
# handed back rather than risk a second sender taking them over while this one is still sending.
LEASE_MARGIN_SECONDS = 5.0


class Transport(Protocol):
    async def deliver(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """One SMTP conversation per message, with the configured TLS mode and credentials."""

    def __init__(self, mail: MailSettings) -> None:
        assert mail.smtp_host is not None
        self._mail = mail

    async def deliver(self, message: EmailMessage) -> None:
        mail = self._mail
        await aiosmtplib.send(
            message,
            hostname=mail.smtp_host,
            port=mail.smtp_port,
            username=mail.smtp_user,
            password=mail.smtp_password,
            use_tls=mail.smtp_tls == "tls",
            start_tls=mail.smtp_tls == "starttls",
            timeout=mail.smtp_timeout_seconds,
        )


class FileTransport:
    """Development default: each message becomes `<directory>/<outbox id>.eml` (a resend overwrites it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def deliver(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").partition("@")[0]
        target = self.directory / f"{name}.eml"
        partial = target.with_suffix(".eml.partial")
        partial.write_bytes(message.as_bytes())
        partial.replace(target)


def transport_for(mail: MailSettings, data_dir: str) -> Transport:
    return SmtpTransport(mail) if mail.smtp_host else FileTransport(Path(data_dir) / "mail")


def build_message(row: q.ClaimDueEmailsRow, from_address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = email.utils.format_datetime(row.created_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


def retry_delay(mail: MailSettings, attempt: int) -> datetime.timedelta:
    """The wait after failed attempt number `attempt` (1, 2, ...): doubling from the initial wait, capped."""
    seconds = min(mail.retry_initial_seconds * 2 ** min(attempt - 1, 30), mail.retry_max_seconds)
    return datetime.timedelta(seconds=seconds)


def _reply_code(exc: Exception) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        return min(codes) if codes else None
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code
    return None


def _describe(exc: Exception) -> str:
    code = _reply_code(exc)
    return f"{type(exc).__name__}" + (f" {code}" if code is not None else "")


async def send_due_emails(connect: ConnectionSource, mail: MailSettings, transport: Transport) -> str:
    """Send what is due now, once; return a one-line summary."""
    async with connect() as conn:
        buried = await q.bury_abandoned_emails(conn, max_attempts=mail.max_attempts)
        claimed = await q.claim_due_emails(
            conn, lease_seconds=mail.lease_seconds, max_attempts=mail.max_attempts, batch_size=mail.batch_size
        )
    deadline = time.monotonic() + mail.lease_seconds - mail.smtp_timeout_seconds - LEASE_MARGIN_SECONDS
    sent = retried = dead = released = 0
    for row in claimed:
        if time.monotonic() > deadline:
            async with connect() as conn:
                released += await q.release_email_claim(conn, id=row.id, attempt=row.attempts)
            continue
        try:
            await transport.deliver(build_message(row, mail.from_address))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            code = _reply_code(exc)
            permanent = code is not None and code >= 500
            last = permanent or row.attempts >= mail.max_attempts
            async with connect() as conn:
                await q.mark_email_failed(
                    conn,
                    id=row.id,
                    attempt=row.attempts,
                    max_attempts=row.attempts if permanent else mail.max_attempts,
                    next_attempt_at=datetime.datetime.now(datetime.UTC) + retry_delay(mail, row.attempts),
                    error=_describe(exc)[:500],
                )
            dead += last
            retried += not last
            log.warning(
                "email %s (%s) attempt %d failed: %s; %s",
                row.id,
                row.kind,
                row.attempts,
                _describe(exc),
                "given up" if last else "will retry",
            )
            continue
        async with connect() as conn:
            await q.mark_email_sent(conn, id=row.id, attempt=row.attempts)
        sent += 1
        log.info("email %s (%s) sent on attempt %d", row.id, row.kind, row.attempts)
    return (
        f"sent {sent} email(s); {retried} to retry, {dead} given up, {released} handed back, "
        f"{buried} abandoned by a stopped sender"
    )
