"""Test infrastructure: a real PostgreSQL (the local server when one answers, else the embedded one)."""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
import uuid
from email.message import EmailMessage
from pathlib import Path

import asyncpg

LOCAL_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def _can_connect(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


class PostgresForTests:
    """Creates throwaway databases on whichever server is available."""

    def __init__(self) -> None:
        self._embedded = None
        if _port_open("127.0.0.1", 5432) and asyncio.run(_can_connect(LOCAL_ADMIN_DSN)):
            self.admin_dsn = LOCAL_ADMIN_DSN
        else:
            from app.db.embedded import start_embedded

            self._embedded = start_embedded(Path(tempfile.mkdtemp(prefix="cookcam-test-pg-")))
            self.admin_dsn = self._embedded.url

    def dsn_for(self, database: str) -> str:
        if "?" in self.admin_dsn:  # unix-socket form: postgresql://user:@/db?host=/path
            base, _, query = self.admin_dsn.partition("?")
            return f"{base.rsplit('/', 1)[0]}/{database}?{query}"
        return f"{self.admin_dsn.rsplit('/', 1)[0]}/{database}"

    async def create_database(self, prefix: str = "cookcam_test") -> tuple[str, str]:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'create database "{name}"')
        finally:
            await conn.close()
        return name, self.dsn_for(name)

    async def drop_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()


PASSWORD = "correct horse battery staple"


def new_email() -> str:
    return f"cook-{uuid.uuid4().hex[:12]}@example.com"


async def sign_up(client, *, email: str | None = None, password: str = PASSWORD, name: str = "Test Cook") -> dict:
    response = await client.post(
        "/api/v1/auth/signup", json={"email": email or new_email(), "password": password, "name": name}
    )
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


def bearer(auth: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth['access_token']}"}


def production_like_env(**overrides: str) -> dict[str, str]:
    """An environment that passes staging/production validation (fill DATABASE_URL where it is used)."""
    env = {
        "APP_ENV": "production",
        "JWT_SECRET": "p" * 48,
        "DATABASE_URL": "postgresql://cookcam:hunter2hunter2@db.internal:5432/cookcam",
        "CORS_ORIGIN": "https://cookcam.app",
        "HTTP_PUBLIC_BASE_URL": "https://api.cookcam.app",
        "STRIPE_SECRET_KEY": "sk_test_" + "k" * 40,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 40,
        "BILLING_REDIRECT_ALLOWLIST": "cookcam://,https://cookcam.app",
        "BILLING_RECEIPT_KEYS": "k2026:cHJvZHVjdGlvbi1saWtlLXJlY2VpcHQta2V5LTMyYnk=",
        "MAIL_SMTP_HOST": "smtp.cookcam.internal",
    }
    env.update(overrides)
    return env


async def deliver_mail(database_url: str) -> list[EmailMessage]:
    """Send what the outbox holds through the real sender to a loopback SMTP server; return what it received."""
    from app.core.mail.delivery import SmtpTransport, send_due_emails
    from app.db.pool import create_pool
    from app.settings import DatabaseSettings, MailSettings
    from tests.fakes.smtp import smtp_server

    pool = await create_pool(database_url, DatabaseSettings(pool_min_size=1, pool_max_size=2))
    try:
        with smtp_server() as (inbox, port):
            mail = MailSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
            await send_due_emails(lambda: pool.acquire(timeout=5), mail, SmtpTransport(mail))
    finally:
        await pool.close()
    return inbox.messages


def link_in(message: EmailMessage, page: str) -> str:
    """The one link to /account/<page> in a message, checked to be the same in its text and HTML parts."""
    text, html = message.get_body(preferencelist=("plain",)), message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    pattern = re.compile(rf"https?://[^\s\"<]+/account/{page}\?token=[A-Za-z0-9_\-]+")
    [link] = pattern.findall(text.get_content())
    assert f'href="{link}"' in html.get_content()
    return link


def token_of(link: str) -> str:
    return link.partition("?token=")[2]


async def sign_up_verified(client, db, email: str) -> dict:
    """A password account at `email` whose address counts as verified (as after its verification link)."""
    account = await sign_up(client, email=email)
    await db.execute("update users set email_verified = true where id = $1::uuid", account["user"]["id"])
    return account
