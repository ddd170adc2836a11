"""/account/verify-email in a real headless Chromium: the sign-up's verification link opened (after a scanner's
prefetch, which verifies nothing), the button pressed, the address verified. No console error or CSP violation;
screenshots under tmp_path."""

from __future__ import annotations

import httpx

from app.pages.page import PAGE_CSP
from tests.browser.conftest import Tab
from tests.e2e.server import RunningServer
from tests.support import PASSWORD, deliver_mail, link_in, new_email


async def test_a_person_confirms_their_address_from_the_email(
    server: RunningServer, tab: Tab, database_url: str, db
) -> None:
    email = new_email()
    signup = httpx.post(
        server.base_url + "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Bo"}
    )
    assert signup.status_code == 201
    [message] = [
        m
        for m in await deliver_mail(database_url)
        if m["To"] == email and m["Subject"] == "Confirm your email address for CookCam"
    ]
    link = link_in(message, "verify-email")
    path = link[link.index("/account/verify-email") :]

    assert httpx.get(server.base_url + path).status_code == 200  # a scanner's prefetch
    assert await db.fetchval("select email_verified from users where email = $1", email) is False
    opened = await tab.page.goto(server.base_url + path)
    assert opened is not None and opened.status == 200
    assert (await opened.all_headers())["content-security-policy"] == PAGE_CSP
    await tab.screenshot("1-confirm")

    await tab.page.click("button[type=submit]")
    await tab.page.wait_for_load_state()
    assert await tab.page.locator("h1").inner_text() == "Email address confirmed"
    await tab.screenshot("2-done")
    assert await db.fetchval("select email_verified from users where email = $1", email) is True
    assert tab.problems == []
