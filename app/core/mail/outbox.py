"""Queueing a message: one row in `email_outbox`, written on the caller's connection inside the caller's transaction,
so a change that rolls back sends nothing and a change that commits cannot lose its message."""

from __future__ import annotations

import email.utils
import uuid

import msgspec

from app.db.queries import email as q
from app.db.types import Connection


class OutgoingEmail(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # what the message is for (password_reset, email_verification, ...): for operators and tests
    recipient: str
    subject: str
    text: str
    html: str
    user_id: uuid.UUID | None = None


def message_id_for(outbox_id: uuid.UUID, domain: str) -> str:
    """The Message-ID of one outbox row: the same on every attempt, so a resend is recognisable as one."""
    return f"<{outbox_id}@{domain}>"


async def queue_email(conn: Connection, email: OutgoingEmail, *, message_domain: str) -> uuid.UUID:
    """Queue `email`; call inside the transaction of the change that causes it."""
    outbox_id = uuid.uuid4()
    await q.queue_email(
        conn,
        id=outbox_id,
        user_id=email.user_id,
        kind=email.kind,
        recipient=email.recipient,
        subject=email.subject,
        text_body=email.text,
        html_body=email.html,
        message_id=message_id_for(outbox_id, message_domain),
    )
    return outbox_id


def message_domain(from_address: str) -> str:
    """The right-hand side of Message-IDs: the sender's domain."""
    _, at, domain = email.utils.parseaddr(from_address)[1].rpartition("@")
    return domain if at and domain else "cookcam.invalid"
