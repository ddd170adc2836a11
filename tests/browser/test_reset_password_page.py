"""/account/reset-password in a real headless Chromium: the link from the reset email, opened (twice: a scanner's
prefetch spends nothing), the new password typed twice, the outcome; the password really changed and every session
ended. No console error or CSP violation; screenshots under tmp_path."""

from __future__ import annotations

import httpx

from app.pages.page import PAGE_CSP
from tests.browser.conftest import Tab
from tests.e2e.server import RunningServer
from tests.support import PASSWORD, deliver_mail, link_in, new_email

NEW_PASSWORD = "a brand new kitchen passphrase"


async def test_a_person_resets_their_password_from_the_email(
    server: RunningServer, tab: Tab, database_url: str
) -> None:
    email = new_email()
    signup = httpx.post(
        server.base_url + "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert signup.status_code == 201
    access = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    assert httpx.post(server.base_url + "/api/v1/auth/forgot-password", json={"email": email}).status_code == 202
    [message] = [
        m
        for m in await deliver_mail(database_url)
        if m["To"] == email and m["Subject"] == "Reset your CookCam password"
    ]
    link = link_in(message, "reset-password")
    path = link[link.index("/account/reset-password") :]  # the email names the public address; this is a test's

    assert httpx.get(server.base_url + path).status_code == 200  # a scanner's prefetch
    opened = await tab.page.goto(server.base_url + path)
    assert opened is not None and opened.status == 200
    assert (await opened.all_headers())["content-security-policy"] == PAGE_CSP
    await tab.screenshot("1-form")

    await tab.page.fill("#password", NEW_PASSWORD)
    await tab.page.fill("#password_again", NEW_PASSWORD + " typo")
    await tab.page.click("button[type=submit]")
    await tab.page.wait_for_load_state()
    assert "not the same" in await tab.page.locator("[role=alert]").inner_text()
    await tab.screenshot("2-mismatch")

    await tab.page.fill("#password", NEW_PASSWORD)
    await tab.page.fill("#password_again", NEW_PASSWORD)
    await tab.page.click("button[type=submit]")
    await tab.page.wait_for_load_state()
    assert await tab.page.locator("h1").inner_text() == "Password changed"
    await tab.screenshot("3-done")

    assert httpx.get(server.base_url + "/api/v1/auth/me", headers=access).status_code == 401
    new = httpx.post(server.base_url + "/api/v1/auth/signin", json={"email": email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert tab.problems == []
