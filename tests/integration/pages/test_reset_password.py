"""/account/reset-password over HTTP: opening the link spends nothing; the form sets the password through the API's
own reset (sessions end, the link is spent); refusals, mismatches and the policy answer with the page; CSRF and
throttling as on every page form."""

from __future__ import annotations

import msgspec

from app.server import create_app
from app.settings import RateLimitSettings
from tests.conftest import make_settings
from tests.integration.pages.forms import assert_page, emailed_link, field, open_link
from tests.support import PASSWORD, bearer, new_email, sign_up, token_of

PAGE = "/account/reset-password"
NEW_PASSWORD = "a brand new kitchen passphrase"


async def reset_link(client, email: str) -> str:
    response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert response.status_code == 202
    return await emailed_link(client, email, "Reset your CookCam password", "reset-password")


async def submit(client, path: str, password: str = NEW_PASSWORD, again: str | None = None, **extra: str):
    csrf, token = await open_link(client, path)
    data = {"csrf_token": csrf, "token": token, "password": password, "password_again": again or password, **extra}
    return await client.post(PAGE, data=data)


async def unused_links(db) -> int:
    return int(
        await db.fetchval("select count(*) from account_tokens where purpose = 'password_reset' and used_at is null")
    )


async def test_the_link_sets_a_new_password_once_and_ends_every_session(client, db) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    path = await reset_link(client, email)
    for _ in range(3):  # a mail scanner's prefetches, then the person: nothing is spent by opening the link
        await open_link(client, path)
    assert await unused_links(db) == 1
    html = assert_page(await submit(client, path), 200)
    assert "Your password has been changed, and every device was signed out." in html
    assert await unused_links(db) == 0
    assert (await client.get("/api/v1/auth/me", headers=bearer(auth))).status_code == 401
    signin = await client.post("/api/v1/auth/signin", json={"email": email, "password": NEW_PASSWORD})
    assert signin.status_code == 200
    old = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    again = assert_page(await submit(client, path, "yet another kitchen passphrase"), 400)
    assert "This link was already used" in again


async def test_mismatched_or_weak_passwords_get_the_form_again_and_keep_the_link(client, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    path = await reset_link(client, email)
    mismatch = assert_page(await submit(client, path, NEW_PASSWORD, NEW_PASSWORD + "!"), 200)
    assert "The two passwords are not the same" in mismatch
    weak = assert_page(await submit(client, path, "password123"), 200)
    assert "one of the most common" in weak
    short = assert_page(await submit(client, path, "short"), 200)
    assert "at least 8 characters" in short
    assert field(short, "token") == token_of(path)  # the link stays in the form
    assert NEW_PASSWORD not in mismatch and "password123" not in weak  # passwords are never echoed
    assert await unused_links(db) == 1
    assert (await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})).status_code == 200


async def test_missing_oversized_and_garbled_links(client, db) -> None:
    for path in (PAGE, PAGE + "?token=", PAGE + "?token=" + "a" * 300):
        assert "This link is incomplete." in assert_page(await client.get(path), 400)
    garbled = PAGE + '?token="><script>alert(1)</script>'
    html = assert_page(await client.get(garbled), 200)
    assert "<script>" not in html and "&quot;&gt;&lt;script&gt;" in html
    refused = assert_page(await submit(client, garbled), 400)
    assert "This link is damaged or was altered" in refused
    forged = assert_page(await submit(client, PAGE + "?token=" + "A" * 48), 400)
    assert "This link" in forged
    assert await db.fetchval("select count(*) from account_tokens") == 0


async def test_the_form_needs_its_csrf_token(client, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    path = await reset_link(client, email)
    _, token = await open_link(client, path)
    data = {"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    for csrf in ("", "forged"):
        assert "was not sent from this site" in assert_page(
            await client.post(PAGE, data={**data, "csrf_token": csrf}), 403
        )
    assert await unused_links(db) == 1


async def test_resets_are_throttled_per_address_like_the_api(database_url) -> None:
    from litestar.testing import AsyncTestClient

    settings = msgspec.structs.replace(
        make_settings(database_url), ratelimit=RateLimitSettings(per_account=1000, per_address=2)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        api = await client.post("/api/v1/auth/reset-password", json={"token": "A" * 48, "new_password": NEW_PASSWORD})
        assert api.status_code == 400
        first = await submit(client, PAGE + "?token=" + "B" * 48)
        assert first.status_code == 400
        throttled = await submit(client, PAGE + "?token=" + "C" * 48)
        assert "Too many attempts" in assert_page(throttled, 429)
        assert int(throttled.headers["retry-after"]) > 0
