"""The email outbox: written in the writer's transaction, sent through a real SMTP server on loopback with claims,
leases, retries and backoff (app/core/mail)."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import msgspec
import pytest

from app.core.mail.delivery import SmtpTransport, build_message, retry_delay, send_due_emails
from app.core.mail.outbox import OutgoingEmail, message_domain, queue_email
from app.db.pool import create_pool
from app.db.queries import email as q
from app.db.types import ConnectionSource
from app.ops.jobs import run_job
from app.settings import DatabaseSettings, MailSettings
from tests.conftest import make_settings
from tests.fakes.smtp import SmtpInbox, smtp_server

LINK = "https://cookcam.example/account/reset-password?token=tok-SECRET-1234567890"
FROM = "CookCam <no-reply@cookcam.example>"


def _email(recipient: str = "ada@example.com", link: str = LINK) -> OutgoingEmail:
    return OutgoingEmail(
        kind="test_notice",
        recipient=recipient,
        subject="Reset your password",
        text=f"Open {link} within 30 minutes.\n",
        html=f'<p><a href="{link}">Reset your password</a></p>',
    )


def _mail(port: int, **overrides: object) -> MailSettings:
    base = MailSettings(from_address=FROM, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
    return msgspec.structs.replace(base, **overrides)


@pytest.fixture
async def connect(database_url: str) -> AsyncIterator[ConnectionSource]:
    pool = await create_pool(database_url, DatabaseSettings(pool_min_size=1, pool_max_size=4))
    try:
        yield lambda: pool.acquire(timeout=5)
    finally:
        await pool.close()


async def _queue(db: asyncpg.Connection, count: int = 1) -> None:
    async with db.transaction():
        for n in range(count):
            await queue_email(db, _email(f"cook{n}@example.com"), message_domain="cookcam.example")


async def test_a_rolled_back_change_queues_nothing(db: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await queue_email(db, _email(), message_domain="cookcam.example")
            raise RuntimeError("the change failed")
    assert await db.fetchval("select count(*) from email_outbox") == 0
    await _queue(db)
    assert await db.fetchval("select count(*) from email_outbox where status = 'pending'") == 1


async def test_a_message_arrives_with_its_headers_both_parts_and_the_link(
    db: asyncpg.Connection, connect: ConnectionSource
) -> None:
    await _queue(db)
    with smtp_server() as (inbox, port):
        summary = await send_due_emails(connect, _mail(port), SmtpTransport(_mail(port)))
    assert summary.startswith("sent 1 email(s)")
    [message] = inbox.messages
    assert inbox.envelope_recipients == [["cook0@example.com"]]
    assert message["From"] == FROM
    assert message["To"] == "cook0@example.com"
    assert message["Subject"] == "Reset your password"
    row = await db.fetchrow("select id, message_id, status, text_body, html_body, sent_at from email_outbox")
    assert message["Message-ID"] == row["message_id"] == f"<{row['id']}@cookcam.example>"
    assert message["Date"] is not None
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and LINK in text.get_content()
    assert html is not None and f'href="{LINK}"' in html.get_content()
    # Sent: the bodies (and the link in them) are gone from the table.
    assert (row["status"], row["text_body"], row["html_body"]) == ("sent", "", "")
    assert row["sent_at"] is not None
    # Nothing is sent twice.
    with smtp_server() as (again, port):
        await send_due_emails(connect, _mail(port), SmtpTransport(_mail(port)))
    assert again.messages == []


async def test_a_crash_between_claim_and_send_resends_once_after_the_lease(
    db: asyncpg.Connection, connect: ConnectionSource
) -> None:
    await _queue(db)
    # A sender claims the row and dies before sending: its claim is committed, its message never left.
    crashed = await q.claim_due_emails(db, lease_seconds=0.5, max_attempts=5, batch_size=10)
    assert len(crashed) == 1
    with smtp_server() as (inbox, port):
        mail = _mail(port, lease_seconds=30.0)
        assert (await send_due_emails(connect, mail, SmtpTransport(mail))).startswith("sent 0")  # lease still live
        await asyncio.sleep(0.6)
        assert (await send_due_emails(connect, mail, SmtpTransport(mail))).startswith("sent 1")
        assert (await send_due_emails(connect, mail, SmtpTransport(mail))).startswith("sent 0")
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Message-ID"] == crashed[0].message_id
    row = await db.fetchrow("select status, attempts from email_outbox")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_a_crash_after_the_relay_took_a_message_resends_it_with_the_same_message_id(
    db: asyncpg.Connection, connect: ConnectionSource
) -> None:
    """The documented limit of at-least-once: the relay said 250, the sender died before marking the row sent."""
    await _queue(db)
    with smtp_server() as (inbox, port):
        mail = _mail(port)
        [claimed] = await q.claim_due_emails(db, lease_seconds=0.3, max_attempts=5, batch_size=10)
        await SmtpTransport(mail).deliver(build_message(claimed, FROM))  # ... and the sender dies here
        await asyncio.sleep(0.4)
        await send_due_emails(connect, mail, SmtpTransport(mail))
    assert [m["Message-ID"] for m in inbox.messages] == [claimed.message_id, claimed.message_id]
    assert await db.fetchval("select status from email_outbox") == "sent"


async def test_a_failing_server_is_retried_with_backoff_then_given_up(
    db: asyncpg.Connection, connect: ConnectionSource
) -> None:
    await _queue(db)
    inbox = SmtpInbox()
    inbox.refuse_with = "451 4.3.0 Try again later"
    attempts: list[tuple[str, int, float]] = []
    with smtp_server(inbox) as (_, port):
        mail = _mail(port, max_attempts=3, retry_initial_seconds=10.0, retry_max_seconds=15.0)
        for _ in range(3):
            before = datetime.datetime.now(datetime.UTC)
            await send_due_emails(connect, mail, SmtpTransport(mail))
            row = await db.fetchrow("select status, attempts, next_attempt_at from email_outbox")
            attempts.append((row["status"], row["attempts"], (row["next_attempt_at"] - before).total_seconds()))
            # Not due yet: a run now sends nothing and counts no attempt.
            await send_due_emails(connect, mail, SmtpTransport(mail))
            assert await db.fetchval("select attempts from email_outbox") == row["attempts"]
            await db.execute("update email_outbox set next_attempt_at = now()")
        # Given up: no further attempt however often the sender runs.
        await send_due_emails(connect, mail, SmtpTransport(mail))
    assert [(status, count) for status, count, _ in attempts] == [("pending", 1), ("pending", 2), ("dead", 3)]
    assert 9 < attempts[0][2] <= 11  # 10 s after the first failure
    assert 14 < attempts[1][2] <= 16  # 20 s, capped at 15
    assert inbox.refused == 3
    assert inbox.messages == []
    dead = await db.fetchrow("select last_error, text_body, html_body from email_outbox")
    assert dead["last_error"] == "SMTPDataError 451"
    assert LINK in dead["text_body"]  # kept for inspection
    assert LINK in dead["html_body"]


def test_the_wait_doubles_up_to_the_cap() -> None:
    mail = MailSettings(retry_initial_seconds=30.0, retry_max_seconds=3600.0)
    assert [retry_delay(mail, n).total_seconds() for n in (1, 2, 3, 8, 100)] == [30, 60, 120, 3600, 3600]


async def test_a_permanent_refusal_is_given_up_at_once(db: asyncpg.Connection, connect: ConnectionSource) -> None:
    await _queue(db)
    inbox = SmtpInbox()
    inbox.refuse_with = "550 5.1.1 No such mailbox"
    with smtp_server(inbox) as (_, port):
        await send_due_emails(connect, _mail(port), SmtpTransport(_mail(port)))
    row = await db.fetchrow("select status, attempts, last_error from email_outbox")
    assert (row["status"], row["attempts"], row["last_error"]) == ("dead", 1, "SMTPDataError 550")


async def test_an_unreachable_server_is_retried(db: asyncpg.Connection, connect: ConnectionSource) -> None:
    await _queue(db)
    with smtp_server() as (_, port):
        pass  # the port is closed again: connections are refused
    mail = _mail(port, smtp_timeout_seconds=2.0)
    await send_due_emails(connect, mail, SmtpTransport(mail))
    row = await db.fetchrow("select status, attempts, last_error from email_outbox")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "SMTPConnectError"


async def test_two_senders_never_send_one_message_twice(db: asyncpg.Connection, connect: ConnectionSource) -> None:
    await _queue(db, count=20)
    with smtp_server() as (inbox, port):
        mail = _mail(port, batch_size=7)
        for _ in range(3):
            await asyncio.gather(*(send_due_emails(connect, mail, SmtpTransport(mail)) for _ in range(3)))
    ids = [message["Message-ID"] for message in inbox.messages]
    assert len(ids) == 20
    assert len(set(ids)) == 20
    assert await db.fetchval("select count(*) from email_outbox where status = 'sent' and attempts = 1") == 20


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_no_secret_or_link_reaches_the_logs(
    db: asyncpg.Connection, connect: ConnectionSource, caplog: pytest.LogCaptureFixture
) -> None:
    password = "smtp-password-not-for-logs"
    await _queue(db)
    caplog.set_level(logging.DEBUG)
    inbox = SmtpInbox(credentials=("cookcam", password))
    with smtp_server(inbox) as (_, port):
        mail = _mail(port, smtp_user="cookcam", smtp_password=password)
        await send_due_emails(connect, mail, SmtpTransport(mail))
        await _queue(db)
        inbox.refuse_with = "451 4.3.0 Try again later"
        await send_due_emails(connect, mail, SmtpTransport(mail))
    assert len(inbox.messages) == 1  # the authenticated send went through
    assert any("sent on attempt 1" in record.getMessage() for record in caplog.records)
    assert any("will retry" in record.getMessage() for record in caplog.records)
    # Ours and the SMTP client's records, at every level; the fake server's own log ("mail.log") is not ours.
    ours = [record for record in caplog.records if not record.name.startswith("mail.log")]
    logged = "".join(f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in ours)
    for secret in (password, "tok-SECRET", "cook0@example.com"):
        assert secret not in logged


async def test_without_smtp_mail_lands_in_files_through_the_job(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await _queue(db, count=2)
    settings = msgspec.structs.replace(make_settings(database_url), data_dir=str(tmp_path))
    summary = await run_job("send-email", database_url, settings)
    assert summary.startswith("send-email: sent 2 email(s)")
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    ids = {str(row["id"]) for row in await db.fetch("select id from email_outbox where status = 'sent'")}
    assert {file.stem for file in files} == ids
    written = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(written, EmailMessage)
    text = written.get_body(preferencelist=("plain",))
    assert text is not None and LINK in text.get_content()
    assert written.get_body(preferencelist=("html",)) is not None


def test_the_message_domain_is_the_senders() -> None:
    assert message_domain("CookCam <no-reply@cookcam.example>") == "cookcam.example"
    assert message_domain("not an address") == "cookcam.invalid"
