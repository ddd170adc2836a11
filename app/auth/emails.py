"""The account's emails: rendered from app/auth/templates and queued in the outbox inside the caller's transaction."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.core.mail.outbox import OutgoingEmail, queue_email
from app.core.mail.templates import render_email
from app.core.tokens import hash_link_token, new_link_token
from app.db.queries import recovery as recovery_q
from app.db.types import Connection

TEMPLATES = Path(__file__).parent / "templates"
# A reset link works once, for 30 minutes; a verification link once, for 24 hours (docs/security.md).
RESET_LINK_TTL = datetime.timedelta(minutes=30)
VERIFICATION_LINK_TTL = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class AccountMail:
    """What the account's emails need: where links point and the domain of their Message-IDs."""

    public_base_url: str
    message_domain: str

    def link(self, page: str, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/account/{page}?token={token}"


async def queue_account_email(
    conn: Connection,
    mail: AccountMail,
    template: str,
    *,
    recipient: str,
    user_id: uuid.UUID | None,
    values: dict[str, str],
) -> None:
    """Render `template` with `values` and queue it for `recipient`; call inside the transaction of the change."""
    rendered = render_email(TEMPLATES, template, values)
    email = OutgoingEmail(
        kind=template,
        recipient=recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        user_id=user_id,
    )
    await queue_email(conn, email, message_domain=mail.message_domain)


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


async def queue_verification(conn: Connection, mail: AccountMail, user_id: uuid.UUID, email: str, name: str) -> None:
    """Issue a verification link for `email` and queue it there; call inside the transaction of the change."""
    token = new_link_token()
    await recovery_q.issue_email_verification(
        conn,
        user_id=user_id,
        token_hash=hash_link_token(token),
        email=email,
        expires_at=datetime.datetime.now(datetime.UTC) + VERIFICATION_LINK_TTL,
    )
    values = {
        "name": name,
        "email": email,
        "link": mail.link("verify-email", token),
        "hours": str(int(VERIFICATION_LINK_TTL.total_seconds() // 3600)),
    }
    await queue_account_email(conn, mail, "verify_email", recipient=email, user_id=user_id, values=values)
