"""POST /auth/forgot-password and POST /auth/reset-password: no enumeration, single-use links valid 30 minutes, only
the newest link works, every session ends, one code per refusal, rate limits."""

from __future__ import annotations

import datetime

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.core.tokens import hash_link_token, new_link_token
from app.server import create_app
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, deliver_mail, link_in, new_email, sign_up, token_of

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a brand new kitchen passphrase"
RESET_SUBJECT = "Reset your CookCam password"


async def _forgot(client, email: str) -> str:
    """Ask for a reset link; return the token from the delivered email."""
    response = await client.post(AUTH + "/forgot-password", json={"email": email})
    assert response.status_code == 202, response.text
    return token_of(link_in(await _one_message_to(client, email, RESET_SUBJECT), "reset-password"))


async def _one_message_to(client, email: str, subject: str):
    """Send the outbox; the one message with `subject` that `email` received (sign-up's verification aside)."""
    received = await deliver_mail(client.app.state.services.settings.database.url)
    messages = [m for m in received if m["To"] == email and m["Subject"] == subject]
    assert len(messages) == 1
    return messages[0]


async def _reset(client, token: str, password: str = NEW_PASSWORD):
    return await client.post(AUTH + "/reset-password", json={"token": token, "new_password": password})


async def test_the_reset_email_carries_a_single_use_link_that_sets_the_password_and_ends_every_session(
    client, db: asyncpg.Connection
) -> None:
    email = new_email()
    first = await sign_up(client, email=email, name="Ada")
    second = (await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).json()
    response = await client.post(AUTH + "/forgot-password", json={"email": email.upper()})
    assert response.status_code == 202
    message = await _one_message_to(client, email, RESET_SUBJECT)
    link = link_in(message, "reset-password")
    assert link.startswith("http://127.0.0.1:8000/account/reset-password?token=")
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "Hello Ada," in text.get_content() and "30 minutes" in text.get_content()
    token = token_of(link)
    # Only a hash of the token is stored.
    stored = await db.fetchrow(
        "select token_hash, expires_at - created_at as ttl from account_tokens where purpose = 'password_reset'"
    )
    assert stored["token_hash"] == hash_link_token(token)
    assert abs(stored["ttl"] - datetime.timedelta(minutes=30)) < datetime.timedelta(seconds=2)

    assert (await _reset(client, token)).status_code == 204
    for auth in (first, second):
        gone = await client.get(AUTH + "/me", headers=bearer(auth))
        assert (gone.status_code, gone.json()["code"]) == (401, "SESSION_REVOKED")
    reasons = await db.fetch("select revoked_reason from sessions where user_id = $1::uuid", first["user"]["id"])
    assert {r["revoked_reason"] for r in reasons} == {"password_reset"}
    assert (await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await client.post(AUTH + "/signin", json={"email": email, "password": NEW_PASSWORD})).status_code == 200
    notice = await _one_message_to(client, email, "Your CookCam password was changed")
    assert notice["To"] == email
    # Single use.
    reused = await _reset(client, token, "yet another kitchen passphrase")
    assert (reused.status_code, reused.json()["code"]) == (400, "RESET_TOKEN_USED")


async def test_forgot_password_answers_the_same_whatever_the_address(client, db: asyncpg.Connection) -> None:
    known = new_email()
    await sign_up(client, email=known)
    unknown = new_email()
    answers = [await client.post(AUTH + "/forgot-password", json={"email": e}) for e in (known, unknown)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].content == answers[1].content
    assert answers[0].json() == {
        "message": "If an account uses this address, a link to reset its password is on its way."
    }
    assert answers[0].headers.get("content-length") == answers[1].headers.get("content-length")
    # Both addresses get an email (the same work either way); only the account's holds a link.
    rows = await db.fetch("select recipient, kind from email_outbox where kind <> 'verify_email'")
    queued = {r["recipient"]: r["kind"] for r in rows}
    assert queued == {known: "password_reset", unknown: "password_reset_no_account"}
    received = await deliver_mail(client.app.state.services.settings.database.url)
    messages = {m["To"]: m for m in received if m["Subject"] != "Confirm your email address for CookCam"}
    body = messages[unknown].get_body(preferencelist=("plain",))
    assert body is not None and "no CookCam account uses it" in " ".join(body.get_content().split())
    assert "token=" not in body.get_content()
    assert await db.fetchval("select count(*) from account_tokens where purpose = 'password_reset'") == 1


async def test_a_newer_request_ends_the_older_link(client) -> None:
    email = new_email()
    await sign_up(client, email=email)
    older = await _forgot(client, email)
    newer = await _forgot(client, email)
    refused = await _reset(client, older)
    assert (refused.status_code, refused.json()["code"]) == (400, "RESET_TOKEN_UNKNOWN")
    assert (await _reset(client, newer)).status_code == 204


async def test_expired_tampered_and_unknown_tokens_each_get_their_code(client, db: asyncpg.Connection) -> None:
    email = new_email()
    await sign_up(client, email=email)
    token = await _forgot(client, email)
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for bad, code in [
        (flipped, "RESET_TOKEN_INVALID"),
        (token[:-1], "RESET_TOKEN_INVALID"),
        (token + "A", "RESET_TOKEN_INVALID"),
        ("../../etc/passwd", "RESET_TOKEN_INVALID"),
        ("é" * 48, "RESET_TOKEN_INVALID"),
        (new_link_token(), "RESET_TOKEN_UNKNOWN"),
    ]:
        response = await _reset(client, bad)
        assert (response.status_code, response.json()["code"]) == (400, code), bad
        assert set(response.json()) >= {"code", "message", "request_id"}
    await db.execute(
        "update account_tokens set expires_at = now() - interval '1 second' where purpose = 'password_reset'"
    )
    expired = await _reset(client, token)
    assert (expired.status_code, expired.json()["code"]) == (400, "RESET_TOKEN_EXPIRED")
    assert (await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"new_password": NEW_PASSWORD}, "VALIDATION_ERROR"),
        ({"token": "", "new_password": NEW_PASSWORD}, "VALIDATION_ERROR"),
        ({"token": "x" * 257, "new_password": NEW_PASSWORD}, "VALIDATION_ERROR"),
        ({"token": 5, "new_password": NEW_PASSWORD}, "VALIDATION_ERROR"),
        ({"token": "t", "new_password": "short"}, "VALIDATION_ERROR"),
    ],
)
async def test_malformed_reset_bodies_are_refused(client, body: dict, code: str) -> None:
    response = await client.post(AUTH + "/reset-password", json=body)
    assert (response.status_code, response.json()["code"]) == (422, code)


async def test_the_policy_applies_and_a_refused_password_keeps_the_link(client) -> None:
    email = new_email()
    await sign_up(client, email=email)
    token = await _forgot(client, email)
    common = await _reset(client, token, "password123")
    assert (common.status_code, common.json()["code"]) == (422, "PASSWORD_TOO_COMMON")
    assert (await _reset(client, token)).status_code == 204


async def test_a_password_change_ends_unused_reset_links(client) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    token = await _forgot(client, email)
    changed = await client.post(
        AUTH + "/change-password",
        headers=bearer(auth),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    assert (await _reset(client, token)).json()["code"] == "RESET_TOKEN_UNKNOWN"


async def test_a_malformed_address_writes_nothing(client, db: asyncpg.Connection) -> None:
    """A malformed address is refused before anything is written: no token, no email."""
    response = await client.post(AUTH + "/forgot-password", json={"email": "not-an-address"})
    assert response.status_code == 422
    assert await db.fetchval("select count(*) from email_outbox") == 0
    assert await db.fetchval("select count(*) from account_tokens") == 0


async def test_forgot_password_is_limited_per_email_and_per_address(database_url: str, db: asyncpg.Connection) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, emails_per_account=2, per_address=4)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ratelimit=limits))) as client:
        email = new_email()
        codes = [(await client.post(AUTH + "/forgot-password", json={"email": email})).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        limited = await client.post(AUTH + "/forgot-password", json={"email": email.upper()})
        assert limited.json()["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) > 0
        # Per address: the fifth request from this client is refused whatever the email.
        other = await client.post(AUTH + "/forgot-password", json={"email": new_email()})
        assert other.status_code == 429
    assert await db.fetchval("select count(*) from email_outbox") == 2


async def test_reset_password_is_limited_per_address(database_url: str) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, per_address=2)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ratelimit=limits))) as client:
        codes = [(await _reset(client, new_link_token())).status_code for _ in range(3)]
    assert codes == [400, 400, 429]


async def test_no_token_reaches_the_logs(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    email = new_email()
    await sign_up(client, email=email)
    token = await _forgot(client, email)
    await _reset(client, token)
    await _reset(client, token)
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # the fake server's own log aside
    logged = "".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in ours)
    assert token not in logged
    assert NEW_PASSWORD not in logged
