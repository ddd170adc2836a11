"""/account/verify-email over HTTP: opening the link verifies nothing; the button verifies through the API's own
verify_email (once); an email change takes effect through it; refusals keep their status (400, 409); CSRF and
throttling as on every page form."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from app.core.tokens import new_link_token
from app.server import create_app
from app.settings import RateLimitSettings
from tests.conftest import make_settings
from tests.integration.pages.forms import assert_page, emailed_link, open_link
from tests.support import PASSWORD, bearer, new_email, sign_up

PAGE = "/account/verify-email"
SUBJECT = "Confirm your email address for CookCam"


async def confirm(client, path: str):
    csrf, token = await open_link(client, path)
    return await client.post(PAGE, data={"csrf_token": csrf, "token": token})


async def verified(db, email: str) -> bool:
    return bool(await db.fetchval("select email_verified from users where email = $1", email))


async def test_the_button_verifies_the_address_once_and_opening_the_link_does_not(client, db) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    path = await emailed_link(client, email, SUBJECT, "verify-email")
    for _ in range(3):  # prefetches by a mail scanner
        await open_link(client, path)
    assert not await verified(db, email)
    html = assert_page(await confirm(client, path), 200)
    assert "Your email address is confirmed." in html
    assert await verified(db, email)
    assert (await client.get("/api/v1/auth/me", headers=bearer(auth))).json()["email_verified"] is True
    assert "This link was already used" in assert_page(await confirm(client, path), 400)


async def test_an_email_change_takes_effect_on_the_page_unless_the_address_was_taken(client, db) -> None:
    first, second = new_email(), new_email()
    for owner in (first, second):
        auth = await sign_up(client, email=owner)
        new_address = new_email()
        change = await client.post(
            "/api/v1/auth/change-email", json={"new_email": new_address, "password": PASSWORD}, headers=bearer(auth)
        )
        assert change.status_code == 202, change.text
        path = await emailed_link(client, new_address, SUBJECT, "verify-email")
        if owner == first:
            assert_page(await confirm(client, path), 200)
            assert await verified(db, new_address)
            assert await db.fetchval("select count(*) from users where email = $1", owner) == 0
        else:
            await sign_up(client, email=new_address)  # someone took the address before the link was used
            taken = assert_page(await confirm(client, path), 409)
            assert "Another account uses this email address now." in taken
            assert await db.fetchval("select count(*) from users where email = $1", owner) == 1


async def test_missing_garbled_and_forged_links(client) -> None:
    assert "This link is incomplete." in assert_page(await client.get(PAGE), 400)
    assert "This link is damaged or was altered" in assert_page(await confirm(client, PAGE + "?token=%3Cb%3E"), 400)
    never_sent = PAGE + "?token=" + new_link_token()
    assert "This link is not valid" in assert_page(await confirm(client, never_sent), 400)


async def test_the_form_needs_its_csrf_token(client, db) -> None:
    email = new_email()
    await sign_up(client, email=email)
    path = await emailed_link(client, email, SUBJECT, "verify-email")
    _, token = await open_link(client, path)
    for csrf in ("", "forged"):
        assert_page(await client.post(PAGE, data={"csrf_token": csrf, "token": token}), 403)
    assert not await verified(db, email)


async def test_verification_is_throttled_per_address_like_the_api(database_url) -> None:
    settings = msgspec.structs.replace(
        make_settings(database_url), ratelimit=RateLimitSettings(per_account=1000, per_address=2)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.post("/api/v1/auth/verify-email", json={"token": "A" * 48})).status_code == 400
        assert (await confirm(client, PAGE + "?token=" + "B" * 48)).status_code == 400
        throttled = await confirm(client, PAGE + "?token=" + "C" * 48)
        assert "Too many attempts" in assert_page(throttled, 429)
