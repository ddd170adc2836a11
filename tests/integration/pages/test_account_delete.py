"""/account/delete over HTTP: the CSRF check, sign-in throttling and messages, the deletion through the API's own
path, and bad input answered with HTML pages (never a 500). The browser test is tests/browser/."""

from __future__ import annotations

import logging
import time
import uuid

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.pages.page import PAGE_CSP
from app.pages.signing import Signer
from app.server import create_app
from app.settings import RateLimitSettings
from tests.conftest import make_settings
from tests.integration.pages.forms import assert_page, field
from tests.support import PASSWORD, bearer, new_email, sign_up

PAGE = "/account/delete"
CONFIRM = "/account/delete/confirm"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def open_form(client: AsyncTestClient[Litestar]) -> str:
    response = await client.get(PAGE)
    assert response.status_code == 200
    return field(response.text, "csrf_token")


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> tuple[str, str]:
    """Open the page, sign in; the review page's CSRF token and confirmation."""
    token = await open_form(client)
    review = await client.post(PAGE, data={"csrf_token": token, "email": email, "password": password})
    assert review.status_code == 200, review.text
    assert "Delete my account for good" in review.text
    return field(review.text, "csrf_token"), field(review.text, "confirmation")


async def user_count(db, email: str) -> int:
    return int(await db.fetchval("select count(*) from users where email = $1", email))


async def test_the_page_is_html_under_its_own_policy_with_a_form_cookie(client) -> None:
    response = await client.get(PAGE)
    html = assert_page(response, 200)
    assert response.headers.get_list("content-security-policy") == [PAGE_CSP]  # the API's policy is not added
    assert "<script" not in html and "style=" not in html and "<style" not in html
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("cookcam_form=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/account" in cookie
    assert 'action="/account/delete"' in html
    sheet = await client.get("/account/pages.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    assert "main {" in sheet.text
    icon = await client.get("/account/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_the_api_keeps_its_policy_and_the_pages_stay_out_of_the_schema(client) -> None:
    health = await client.get("/health")
    assert health.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/account")]


async def test_a_production_cookie_is_secure(database_url) -> None:
    from app.settings import load_settings
    from tests.support import production_like_env

    settings = load_settings(production_like_env(DATABASE_URL=database_url, JOBS_SCHEDULER_ENABLED="false"))
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get(PAGE)
        assert response.status_code == 200
        assert "secure" in response.headers["set-cookie"].lower()
        assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_the_whole_flow_deletes_the_account_and_its_sessions(client, db) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    user_id = uuid.UUID(auth["user"]["id"])
    csrf, confirmation = await sign_in(client, email.upper())  # emails are compared as the API compares them
    assert await db.fetchval("select count(*) from sessions where user_id = $1", user_id) == 1  # none added
    done = await client.post(CONFIRM, data={"csrf_token": csrf, "confirmation": confirmation})
    html = assert_page(done, 200)
    assert "Your account and all of its data have been deleted." in html
    assert await user_count(db, email) == 0
    assert await db.fetchval("select count(*) from sessions where user_id = $1", user_id) == 0
    me = await client.get("/api/v1/auth/me", headers=bearer(auth))
    assert me.status_code == 401
    again = await client.post(CONFIRM, data={"csrf_token": csrf, "confirmation": confirmation})
    assert "This account no longer exists." in assert_page(again, 404)


async def test_wrong_password_and_unknown_email_get_the_form_again_with_one_message(client, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    for attempt_email, password in ((email, "not the password"), (new_email(), PASSWORD)):
        token = await open_form(client)
        response = await client.post(PAGE, data={"csrf_token": token, "email": attempt_email, "password": password})
        html = assert_page(response, 200)
        assert "The email or password is incorrect." in html
        assert 'name="password"' in html and "Delete my account for good" not in html
        assert f'value="{attempt_email}"' in html  # the email is kept, the password is not
        assert password not in html
    empty = await client.post(PAGE, data={"csrf_token": await open_form(client), "email": email, "password": ""})
    assert "Enter your email and your password." in assert_page(empty, 200)
    assert await user_count(db, email) == 1


async def test_an_account_without_a_password_cannot_sign_in_on_the_page(client, db) -> None:
    """An account made through Apple or Google (no password): the same refusal as a wrong password, no way past it."""
    email = new_email()
    await sign_up(client, email=email)
    await db.execute("update users set password_hash = null where email = $1", email)
    for password in (PASSWORD, "x"):
        token = await open_form(client)
        response = await client.post(PAGE, data={"csrf_token": token, "email": email, "password": password})
        html = assert_page(response, 200)
        assert "The email or password is incorrect." in html and "Delete my account for good" not in html
    assert await user_count(db, email) == 1


async def test_what_is_typed_is_escaped(client) -> None:
    token = await open_form(client)
    hostile = '"><script>alert(1)</script>@example.com'
    response = await client.post(PAGE, data={"csrf_token": token, "email": hostile, "password": "x"})
    html = assert_page(response, 200)
    assert "<script>" not in html
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in html


@pytest.fixture
async def other_browser(settings):
    """Another browser: its own cookies, the same server (another app instance over the same database)."""
    async with AsyncTestClient(app=create_app(settings)) as other:
        yield other


async def test_posts_without_a_valid_csrf_token_are_refused(client, other_browser, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    good = await open_form(client)
    data = {"email": email, "password": PASSWORD}
    refused = [
        await client.post(PAGE, data=data),  # no token
        await client.post(PAGE, data={**data, "csrf_token": "garbage"}),
        await client.post(PAGE, data={**data, "csrf_token": good[:-2] + ("AA" if good[-2:] != "AA" else "BB")}),
        await client.post(PAGE, data={**data, "csrf_token": good}, headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    # A token signed for another form (the confirm step) is not one for this form.
    settings = make_settings("unused")
    other_form = Signer(settings.jwt).sign("csrf /account/delete/confirm", "0" * 32, 60)
    refused.append(await client.post(PAGE, data={**data, "csrf_token": other_form}))
    for response in refused:
        assert "was not sent from this site" in assert_page(response, 403)
    # The right token without its cookie (another browser, or a forging site whose request carries no cookie).
    assert_page(await other_browser.post(PAGE, data={**data, "csrf_token": good}), 403)
    assert await user_count(db, email) == 1
    accepted = await client.post(PAGE, data={**data, "csrf_token": good})
    assert accepted.status_code == 200


async def test_an_expired_csrf_token_is_refused(client) -> None:
    await client.get(PAGE)
    cookie = client.cookies["cookcam_form"]
    import hashlib

    binding = hashlib.sha256(f"cookcam form cookie\n{cookie}".encode()).hexdigest()[:32]
    signer = Signer(make_settings("unused").jwt)
    expired = signer.sign("csrf /account/delete", binding, 60, now=time.time() - 120)
    fresh = signer.sign("csrf /account/delete", binding, 60)
    data = {"email": new_email(), "password": "whatever"}
    assert_page(await client.post(PAGE, data={**data, "csrf_token": expired}), 403)
    assert_page(await client.post(PAGE, data={**data, "csrf_token": fresh}), 200)  # the same, in time, is taken


async def test_a_confirmation_works_only_in_the_browser_that_signed_in(client, other_browser, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    csrf, confirmation = await sign_in(client, email)
    other = other_browser
    other_csrf = await open_form(other)
    # The other browser's own valid CSRF token, but a confirmation bound to the first browser's cookie.
    response = await other.post(CONFIRM, data={"csrf_token": other_csrf, "confirmation": confirmation})
    assert_page(response, 403)  # its token was signed for /account/delete, not the confirm form
    other_email = new_email()
    await sign_up(other, email=other_email)
    confirm_csrf, _ = await sign_in(other, other_email)
    response = await other.post(CONFIRM, data={"csrf_token": confirm_csrf, "confirmation": confirmation})
    assert "This confirmation has expired or is not valid here." in assert_page(response, 403)
    for tampered in ("", "garbage", confirmation.replace(".", "x", 1), confirmation[:-3] + "abc"):
        response = await client.post(CONFIRM, data={"csrf_token": csrf, "confirmation": tampered})
        assert_page(response, 403)
    assert await user_count(db, email) == 1


async def test_sign_in_on_the_page_is_throttled_with_the_api(database_url, db) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url), ratelimit=RateLimitSettings(per_account=3, per_address=1000)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        email = new_email()
        await sign_up(client, email=email)
        api = await client.post("/api/v1/auth/signin", json={"email": email, "password": "wrong password"})
        assert api.status_code == 401
        statuses = []
        for _ in range(3):
            token = await open_form(client)
            answer = await client.post(PAGE, data={"csrf_token": token, "email": email, "password": "wrong"})
            statuses.append(answer.status_code)
        assert statuses == [200, 200, 429]
        html = assert_page(answer, 429)
        assert int(answer.headers["retry-after"]) > 0
        assert "Too many attempts" in html
        # Even the right password waits now: the page is no way around the API's limit.
        token = await open_form(client)
        right = await client.post(PAGE, data={"csrf_token": token, "email": email, "password": PASSWORD})
        assert right.status_code == 429
    assert await user_count(db, email) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"email=\xff\xfe&password=x", FORM, 400),  # not UTF-8
        (b"email=%ff%fe&password=x", FORM, 400),  # percent-encoded bytes that are not UTF-8
        (b"email=a&email=b&password=x", FORM, 400),  # a field twice
        (b"&".join(b"f%d=1" % i for i in range(20)), FORM, 400),  # too many fields
        (b"x=" + b"a" * (64 * 1024), FORM, 413),
        (b'{"email": "a@example.com"}', {"Content-Type": "application/json"}, 415),
        (b"email=a", {"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ],
)
async def test_bad_bodies_get_an_html_error_page(client, body: bytes, headers: dict[str, str], status: int) -> None:
    await open_form(client)
    for path in (PAGE, CONFIRM):
        response = await client.post(path, content=body, headers=headers)
        html = assert_page(response, status)
        assert "Reference:" in html


async def test_unknown_methods_and_garbled_queries_do_not_break_the_page(client) -> None:
    garbled = await client.get(PAGE + "?token=%ff%00%zz&email=%E2%80")
    assert_page(garbled, 200)
    assert (await client.put(PAGE)).status_code == 405


async def test_no_password_email_or_token_reaches_the_logs(client, caplog: pytest.LogCaptureFixture) -> None:
    email = new_email()
    await sign_up(client, email=email)
    logging.getLogger().addHandler(caplog.handler)  # the app replaced the root's handlers when it started
    caplog.set_level(logging.DEBUG)
    try:
        csrf, confirmation = await sign_in(client, email)
        bad = await client.post(PAGE, data={"csrf_token": "forged-token", "email": email, "password": "hunter2-x"})
        assert bad.status_code == 403
        await client.post(CONFIRM, data={"csrf_token": csrf, "confirmation": confirmation})
    finally:
        logging.getLogger().removeHandler(caplog.handler)
    text = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert "/account/delete" in text  # the access lines were captured
    for secret in (PASSWORD, "hunter2-x", csrf, confirmation, "forged-token", email):
        assert secret not in text
