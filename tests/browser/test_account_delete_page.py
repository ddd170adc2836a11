"""/account/delete in a real headless Chromium against a real granian process: the person signs in, reads what is
erased, confirms; the account and its sessions are gone from the database. The page loads with no console error
and no CSP violation, and the policy really blocks what it should. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import uuid

import httpx

from app.pages.page import PAGE_CSP
from tests.browser.conftest import Tab
from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email

BRAND_ORANGE = "rgb(232, 89, 12)"  # .brand in app/pages/pages.css: proof the stylesheet loaded under the policy


def sign_up(server: RunningServer, email: str) -> dict:
    response = httpx.post(
        server.base_url + "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Page Cook"}
    )
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


async def test_a_person_deletes_their_account_in_the_browser(server: RunningServer, tab: Tab, db) -> None:
    email = new_email()
    auth = sign_up(server, email)
    user_id = uuid.UUID(auth["user"]["id"])
    page = tab.page

    opened = await page.goto(server.base_url + "/account/delete")
    assert opened is not None and opened.status == 200
    headers = await opened.all_headers()
    assert headers["content-security-policy"] == PAGE_CSP
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert await page.locator(".brand").evaluate("e => getComputedStyle(e).color") == BRAND_ORANGE
    await tab.screenshot("1-sign-in")

    await page.fill("#email", email)
    await page.fill("#password", "not my password")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert await page.locator("[role=alert]").inner_text() == "The email or password is incorrect."
    assert await page.input_value("#email") == email and await page.input_value("#password") == ""
    await tab.screenshot("2-wrong-password")

    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert await page.locator("h1").inner_text() == "Delete your account?"
    assert email in await page.locator("main").inner_text()
    await tab.screenshot("3-review")
    assert await db.fetchval("select count(*) from users where id = $1", user_id) == 1

    await page.click("button.danger")
    await page.wait_for_load_state()
    assert await page.locator("h1").inner_text() == "Account deleted"
    assert "Your account and all of its data have been deleted." in await page.locator("[role=status]").inner_text()
    await tab.screenshot("4-done")

    assert await db.fetchval("select count(*) from users where id = $1", user_id) == 0
    assert await db.fetchval("select count(*) from sessions where user_id = $1", user_id) == 0
    me = httpx.get(server.base_url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {auth['access_token']}"})
    assert me.status_code == 401
    assert tab.problems == []
    assert sorted(path.name for path in tab.screenshots.glob("*.png")) == [
        "1-sign-in.png",
        "2-wrong-password.png",
        "3-review.png",
        "4-done.png",
    ]


async def test_the_policy_blocks_inline_script_and_other_origins(server: RunningServer, tab: Tab) -> None:
    """The console check above would see a violation: here the page is made to commit some, and it does."""
    await tab.page.goto(server.base_url + "/account/delete")
    assert tab.problems == []
    await tab.page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "document.title = 'injected'";
            document.body.append(script);
            const image = document.createElement("img");
            image.src = "https://elsewhere.invalid/pixel.png";
            document.body.append(image);
        }"""
    )
    await tab.page.wait_for_timeout(300)
    assert await tab.page.title() != "injected"
    violations = [problem for problem in tab.problems if "Content Security Policy" in problem]
    assert any("script" in problem for problem in violations), tab.problems
    assert any("elsewhere.invalid" in problem for problem in violations), tab.problems


async def test_a_form_posted_from_another_site_is_refused(server: RunningServer, tab: Tab, db) -> None:
    email = new_email()
    sign_up(server, email)
    # The victim's browser has the page's cookie; the forging site has a token, but one bound to its own cookie.
    await tab.page.goto(server.base_url + "/account/delete")
    attacker_view = httpx.get(server.base_url + "/account/delete").text
    token = attacker_view.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    forged = f"""<form method="post" action="{server.base_url}/account/delete">
        <input name="csrf_token" value="{token}"><input name="email" value="{email}">
        <input name="password" value="{PASSWORD}"><button>go</button></form>"""
    await tab.page.goto("about:blank")
    await tab.page.set_content(forged)
    async with tab.page.expect_navigation() as navigation:
        await tab.page.click("button")
    answer = await navigation.value
    assert answer is not None and answer.status == 403
    assert "was not sent from this site" in await tab.page.locator("[role=alert]").inner_text()
    await tab.screenshot("forged-post-refused")
    assert await db.fetchval("select count(*) from users where email = $1", email) == 1
