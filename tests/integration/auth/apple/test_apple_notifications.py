"""POST /auth/apple/notifications: Apple's server-to-server notifications for Sign in with Apple, signed by the
loopback JWKS fake's keys (tests/fakes/apple_id.py), verified, then acted on, each once in effect."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.importer.supabase import ExportFiles, import_supabase
from tests.fakes.apple_id import FakeAppleId
from tests.integration.auth.apple.accounts import BUNDLE_ID, SERVICE_ID
from tests.integration.importer.exports import OldAccount, identity_row, write_exports
from tests.support import bearer, new_email, sign_up_verified

APPLE = "/api/v1/auth/apple"
NOTIFY = "/api/v1/auth/apple/notifications"


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _apple_account(client, apple: FakeAppleId, subject: str, email: str | None = None) -> dict:
    token = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email or new_email())
    response = await client.post(APPLE, json={"identity_token": token})
    assert response.status_code in (200, 201), response.text
    body: dict = response.json()
    return body


async def _notify(client, apple: FakeAppleId, kind: str, subject: str, event_time: int | None = None, **extra):
    event = {"type": kind, "sub": subject, "event_time": event_time or _now_ms() + 1000} | extra
    return await client.post(NOTIFY, json={"payload": apple.notification(audience=SERVICE_ID, event=event)})


async def test_email_events_record_the_forwarding_once_and_in_order(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    await _apple_account(client, apple, subject, email=f"{uuid.uuid4().hex[:8]}@privaterelay.appleid.com")
    disabled_at = _now_ms() + 1000
    assert (
        await _notify(client, apple, "email-disabled", subject, disabled_at, is_private_email="true")
    ).status_code == 204
    assert await db.fetchval("select email_forwarding_disabled from user_identities") is True
    # An older email-enabled arriving late changes nothing; a replay of the newest changes nothing either.
    assert (await _notify(client, apple, "email-enabled", subject, disabled_at - 500)).status_code == 204
    assert await db.fetchval("select email_forwarding_disabled from user_identities") is True
    assert (await _notify(client, apple, "email-disabled", subject, disabled_at)).status_code == 204
    assert (await _notify(client, apple, "email-enabled", subject, disabled_at + 10)).status_code == 204
    assert await db.fetchval("select email_forwarding_disabled from user_identities") is False


async def test_consent_revoked_unlinks_apple_and_ends_every_session(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    first = await _apple_account(client, apple, subject)
    second = await _apple_account(client, apple, subject)
    payload_time = _now_ms() + 1000
    assert (await _notify(client, apple, "consent-revoked", subject, payload_time)).status_code == 204
    assert await db.fetchval("select count(*) from user_identities") == 0
    for auth in (first, second):
        gone = await client.get("/api/v1/auth/me", headers=bearer(auth))
        assert (gone.status_code, gone.json()["code"]) == (401, "SESSION_REVOKED")
    reasons = await db.fetch("select distinct revoked_reason from sessions")
    assert [r["revoked_reason"] for r in reasons] == ["apple_consent_revoked"]
    assert await db.fetchval("select count(*) from users") == 1  # the account stays (a reset link gets in)
    # Delivered again: nothing left to do.
    assert (await _notify(client, apple, "consent-revoked", subject, payload_time)).status_code == 204


async def test_a_late_or_replayed_revocation_never_removes_a_newer_link(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    await _apple_account(client, apple, subject)
    old_event = _now_ms()
    await asyncio.sleep(0.05)
    await db.execute("update user_identities set created_at = now()")  # linked again after the event
    assert (await _notify(client, apple, "consent-revoked", subject, old_event)).status_code == 204
    assert (await _notify(client, apple, "account-delete", subject, old_event)).status_code == 204
    assert await db.fetchval("select count(*) from user_identities") == 1
    assert await db.fetchval("select count(*) from sessions where revoked_at is not null") == 0


async def test_account_delete_erases_an_account_apple_was_the_only_way_into(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    auth = await _apple_account(client, apple, subject)
    assert (await _notify(client, apple, "account-delete", subject)).status_code == 204
    assert await db.fetchval("select count(*) from users where id = $1::uuid", auth["user"]["id"]) == 0
    assert await db.fetchval("select count(*) from user_identities") == 0
    assert (await _notify(client, apple, "account-delete", subject)).status_code == 204  # again: nothing to do


async def test_account_delete_keeps_an_account_with_another_way_in(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    email = new_email()
    account = await sign_up_verified(client, db, email)
    subject = f"apple-{uuid.uuid4().hex}"
    await _apple_account(client, apple, subject, email=email)
    assert (await _notify(client, apple, "account-delete", subject)).status_code == 204
    assert await db.fetchval("select count(*) from user_identities") == 0
    assert (await client.get("/api/v1/auth/me", headers=bearer(account))).status_code == 200


async def test_unsigned_forged_or_unreadable_notifications_are_refused(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    await _apple_account(client, apple, subject)
    event = {"type": "account-delete", "sub": subject, "event_time": _now_ms() + 1000}
    forged = apple.notification(audience=SERVICE_ID, event=event, signer="stranger")
    other_app = apple.notification(audience="com.other.app", event=event)
    other_issuer = apple.notification(audience=SERVICE_ID, event=event, issuer="https://evil.example")
    for payload in (forged, other_app, other_issuer, "not.a.jwt", "x"):
        response = await client.post(NOTIFY, json={"payload": payload})
        assert (response.status_code, response.json()["code"]) == (401, "APPLE_TOKEN_INVALID")
    for events in ("not json", {"type": "account-delete"}, {"sub": subject}, ["account-delete"]):
        signed = apple.sign(
            {"iss": "https://appleid.apple.com", "aud": BUNDLE_ID, "iat": int(time.time()), "events": events}
        )
        response = await client.post(NOTIFY, json={"payload": signed})
        assert (response.status_code, response.json()["code"]) == (400, "APPLE_NOTIFICATION_INVALID"), events
    for body in (b"{", b"[]", b'{"payload": 5}'):
        response = await client.post(NOTIFY, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422) and response.json()["code"]
    assert await db.fetchval("select count(*) from users") == 1
    assert await db.fetchval("select count(*) from user_identities") == 1


async def test_unknown_events_and_unknown_apple_ids_change_nothing(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    await _apple_account(client, apple, subject)
    assert (await _notify(client, apple, "something-new", subject)).status_code == 204
    assert (await _notify(client, apple, "consent-revoked", "someone-else")).status_code == 204
    assert await db.fetchval("select count(*) from user_identities") == 1
    assert await db.fetchval("select count(*) from sessions where revoked_at is not null") == 0


async def test_an_imported_account_erased_by_account_delete_is_not_imported_again(
    client: AsyncTestClient[Litestar], apple: FakeAppleId, db: asyncpg.Connection, tmp_path: Path
) -> None:
    subject = f"apple-{uuid.uuid4().hex}"
    account = OldAccount(encrypted_password="")  # Apple is its only way in
    exports = write_exports(tmp_path, [account], [identity_row(account.id, "apple", subject)])
    files = ExportFiles(exports.auth_users, exports.profiles, exports.identities)
    assert (await import_supabase(db, files)).identities_imported == 1
    assert (await _notify(client, apple, "account-delete", subject)).status_code == 204
    assert await db.fetchval("select count(*) from users") == 0

    again = await import_supabase(db, files)

    assert (again.imported, again.skipped["deleted here"], again.identities_skipped["account deleted here"]) == (
        0,
        1,
        1,
    )
    assert await db.fetchval("select count(*) from users") == 0
    assert await db.fetchval("select count(*) from user_identities") == 0
