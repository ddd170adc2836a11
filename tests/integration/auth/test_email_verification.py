"""Email verification: a link at sign-up (same transaction as the account), POST /auth/verify-email,
POST /auth/resend-verification, and POST /auth/change-email (password needed, effective only once verified)."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.core.tokens import new_link_token
from app.server import create_app
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, deliver_mail, link_in, new_email, sign_up, token_of

AUTH = "/api/v1/auth"
VERIFY_SUBJECT = "Confirm your email address for CookCam"


async def _mail_to(client, email: str, subject: str):
    received = await deliver_mail(client.app.state.services.settings.database.url)
    messages = [m for m in received if m["To"] == email and m["Subject"] == subject]
    assert len(messages) == 1, [(m["To"], m["Subject"]) for m in received]
    return messages[0]


async def _verification_token(client, email: str) -> str:
    return token_of(link_in(await _mail_to(client, email, VERIFY_SUBJECT), "verify-email"))


async def _verify(client, token: str):
    return await client.post(AUTH + "/verify-email", json={"token": token})


async def _me(client, auth: dict) -> dict:
    response = await client.get(AUTH + "/me", headers=bearer(auth))
    assert response.status_code == 200
    body: dict = response.json()
    return body


async def test_sign_up_sends_a_link_that_verifies_the_address_once(client, db: asyncpg.Connection) -> None:
    email = new_email()
    auth = await sign_up(client, email=email, name="Ada")
    assert auth["user"]["email_verified"] is False
    assert (await _me(client, auth))["email_verified"] is False
    message = await _mail_to(client, email, VERIFY_SUBJECT)
    link = link_in(message, "verify-email")
    assert link.startswith("http://127.0.0.1:8000/account/verify-email?token=")
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "Hello Ada," in text.get_content() and "24 hours" in text.get_content()
    assert (await _verify(client, token_of(link))).status_code == 204
    me = await _me(client, auth)
    assert (me["email"], me["email_verified"]) == (email, True)
    reused = await _verify(client, token_of(link))
    assert (reused.status_code, reused.json()["code"]) == (400, "VERIFICATION_TOKEN_USED")


async def test_a_refused_sign_up_queues_nothing(client, db: asyncpg.Connection) -> None:
    email = new_email()
    await sign_up(client, email=email)
    taken = await client.post(AUTH + "/signup", json={"email": email, "password": PASSWORD, "name": "B"})
    assert taken.status_code == 409
    assert await db.fetchval("select count(*) from email_outbox") == 1
    assert await db.fetchval("select count(*) from account_tokens") == 1


async def test_bad_verification_tokens_each_get_their_code(client, db: asyncpg.Connection) -> None:
    email = new_email()
    await sign_up(client, email=email)
    token = await _verification_token(client, email)
    assert (await client.post(AUTH + "/forgot-password", json={"email": email})).status_code == 202
    reset = token_of(link_in(await _mail_to(client, email, "Reset your CookCam password"), "reset-password"))
    for bad, code in [
        (token[:20] + ("x" if token[20] != "x" else "y") + token[21:], "VERIFICATION_TOKEN_INVALID"),
        ("short", "VERIFICATION_TOKEN_INVALID"),
        (new_link_token(), "VERIFICATION_TOKEN_UNKNOWN"),
        (reset, "VERIFICATION_TOKEN_UNKNOWN"),  # a reset link is not a verification link
    ]:
        response = await _verify(client, bad)
        assert (response.status_code, response.json()["code"]) == (400, code)
    # ... nor the other way round.
    wrong_way = await client.post(
        AUTH + "/reset-password", json={"token": token, "new_password": "a long new passphrase"}
    )
    assert wrong_way.json()["code"] == "RESET_TOKEN_UNKNOWN"
    await db.execute("update account_tokens set expires_at = now() - interval '1 second'")
    expired = await _verify(client, token)
    assert (expired.status_code, expired.json()["code"]) == (400, "VERIFICATION_TOKEN_EXPIRED")
    assert await db.fetchval("select email_verified from users") is False
    malformed = await client.post(AUTH + "/verify-email", json={"token": ""})
    assert malformed.status_code == 422


async def test_resend_sends_a_new_link_and_ends_the_old_one(client) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    first = await _verification_token(client, email)
    response = await client.post(AUTH + "/resend-verification", headers=bearer(auth))
    assert response.status_code == 202
    second = await _verification_token(client, email)
    assert (await _verify(client, first)).json()["code"] == "VERIFICATION_TOKEN_UNKNOWN"
    assert (await _verify(client, second)).status_code == 204
    again = await client.post(AUTH + "/resend-verification", headers=bearer(auth))
    assert (again.status_code, again.json()["code"]) == (409, "EMAIL_ALREADY_VERIFIED")
    anonymous = await client.post(AUTH + "/resend-verification")
    assert anonymous.status_code == 401


async def test_resend_is_limited_per_account(database_url: str, db: asyncpg.Connection) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, emails_per_account=2)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ratelimit=limits))) as client:
        auth = await sign_up(client)
        codes = [(await client.post(AUTH + "/resend-verification", headers=bearer(auth))).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        limited = await client.post(AUTH + "/resend-verification", headers=bearer(auth))
        assert limited.json()["code"] == "RATE_LIMITED"
    assert await db.fetchval("select count(*) from email_outbox") == 3  # sign-up's and two resends


async def test_an_email_change_takes_effect_only_once_the_new_address_is_verified(
    client, db: asyncpg.Connection
) -> None:
    old, new = new_email(), new_email()
    auth = await sign_up(client, email=old, name="Ada")
    await deliver_mail(client.app.state.services.settings.database.url)  # sign-up's link, not needed here
    assert (await client.post(AUTH + "/forgot-password", json={"email": old})).status_code == 202
    reset = token_of(link_in(await _mail_to(client, old, "Reset your CookCam password"), "reset-password"))
    response = await client.post(
        AUTH + "/change-email", headers=bearer(auth), json={"new_email": new.upper(), "password": PASSWORD}
    )
    assert response.status_code == 202
    assert (await _me(client, auth))["email"] == old  # nothing changed yet
    received = await deliver_mail(client.app.state.services.settings.database.url)
    by_address = {m["To"]: m for m in received}
    assert set(by_address) == {old, new}
    notice = by_address[old]
    assert notice["Subject"] == "Your CookCam email address is being changed"
    notice_text = notice.get_body(preferencelist=("plain",))
    assert notice_text is not None and new in " ".join(notice_text.get_content().split())
    assert "token=" not in notice_text.get_content()
    token = token_of(link_in(by_address[new], "verify-email"))
    assert (await _verify(client, token)).status_code == 204
    me = await _me(client, auth)
    assert (me["email"], me["email_verified"]) == (new, True)
    assert (await client.post(AUTH + "/signin", json={"email": new, "password": PASSWORD})).status_code == 200
    assert (await client.post(AUTH + "/signin", json={"email": old, "password": PASSWORD})).status_code == 401
    # The reset link sent to the old address no longer works.
    stale = await client.post(AUTH + "/reset-password", json={"token": reset, "new_password": "a long new passphrase"})
    assert stale.json()["code"] == "RESET_TOKEN_UNKNOWN"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"new_email": "NEW", "password": "wrong password"}, 401, "INVALID_PASSWORD"),
        ({"new_email": "SELF", "password": PASSWORD}, 409, "EMAIL_UNCHANGED"),
        ({"new_email": "TAKEN", "password": PASSWORD}, 409, "EMAIL_TAKEN"),
        ({"new_email": "not an address", "password": PASSWORD}, 422, "VALIDATION_ERROR"),
        ({"new_email": "NEW"}, 422, "VALIDATION_ERROR"),
        ({"new_email": "NEW", "password": PASSWORD, "email_verified": True}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_a_refused_email_change_queues_nothing(
    client, db: asyncpg.Connection, body: dict, status: int, code: str
) -> None:
    email, taken = new_email(), new_email()
    auth = await sign_up(client, email=email)
    await sign_up(client, email=taken)
    named = {"NEW": new_email(), "SELF": email.upper(), "TAKEN": taken.upper()}
    body = {**body, "new_email": named.get(body.get("new_email", ""), body.get("new_email"))}
    if body["new_email"] is None:
        del body["new_email"]
    response = await client.post(AUTH + "/change-email", headers=bearer(auth), json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await db.fetchval("select count(*) from email_outbox where kind <> 'verify_email'") == 0
    assert await db.fetchval("select count(*) from email_outbox") == 2  # the two sign-ups' links


async def test_an_address_taken_before_the_link_is_used_is_refused(client, db: asyncpg.Connection) -> None:
    old, new = new_email(), new_email()
    auth = await sign_up(client, email=old)
    await deliver_mail(client.app.state.services.settings.database.url)
    changed = await client.post(
        AUTH + "/change-email", headers=bearer(auth), json={"new_email": new, "password": PASSWORD}
    )
    assert changed.status_code == 202
    token = await _verification_token(client, new)
    await sign_up(client, email=new)  # someone else signs up with the address meanwhile
    refused = await _verify(client, token)
    assert (refused.status_code, refused.json()["code"]) == (409, "EMAIL_TAKEN")
    assert (await _me(client, auth))["email"] == old


async def test_change_email_is_limited_per_account(database_url: str) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, emails_per_account=1)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ratelimit=limits))) as client:
        auth = await sign_up(client)
        body = {"new_email": new_email(), "password": PASSWORD}
        first = await client.post(AUTH + "/change-email", headers=bearer(auth), json=body)
        second = await client.post(AUTH + "/change-email", headers=bearer(auth), json=body)
    assert first.status_code == 202
    assert (second.status_code, second.json()["code"]) == (429, "RATE_LIMITED")
