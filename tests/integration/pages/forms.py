"""Reading the pages as a test client sees them: hidden fields, and the headers every page carries."""

from __future__ import annotations

import re

from app.pages.page import PAGE_CSP
from tests.support import deliver_mail, link_in, token_of


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def assert_page(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == PAGE_CSP
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    return str(response.text)


async def emailed_link(client, email: str, subject: str, page: str) -> str:
    """The path and query of the link to /account/<page> in the one email to `email` with this subject."""
    messages = await deliver_mail(client.app.state.services.settings.database.url)
    [message] = [m for m in messages if m["To"] == email and m["Subject"] == subject]
    return f"/account/{page}?token=" + token_of(link_in(message, page))


async def open_link(client, path: str) -> tuple[str, str]:
    """Open an emailed link's page: its CSRF token and the link's token, as the form carries them."""
    html = assert_page(await client.get(path), 200)
    return field(html, "csrf_token"), field(html, "token")
