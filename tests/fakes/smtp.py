"""A real SMTP server on loopback (aiosmtpd, in a thread of its own) that keeps what it receives, and can refuse."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class SmtpInbox:
    """What the server accepted, and how it answers: `refuse_with` (for example "451 4.3.0 Try again later") makes
    it refuse every message at DATA until set back to None. With `credentials`, AUTH is required."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelope_recipients: list[list[str]] = []
        self.refuse_with: str | None = None
        self.refused = 0
        self.credentials = credentials
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refuse_with is not None:
                self.refused += 1
                return self.refuse_with
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.envelope_recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (data.login.decode(), data.password.decode())
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(inbox: SmtpInbox | None = None) -> Iterator[tuple[SmtpInbox, int]]:
    """Serve SMTP on a free loopback port for one `with` block; yields the inbox and the port."""
    inbox = inbox or SmtpInbox()
    extra: dict[str, Any] = {}
    if inbox.credentials is not None:
        extra = {"authenticator": inbox.authenticate, "auth_required": True, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), ready_timeout=5, **extra)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
