"""GET /auth/export covers the data added with the move from the previous backend and with account recovery:
Supabase sessions taken over, imported refresh tokens, imported billing bindings, single-use links, the emails
about the account; each without its secret (token, hash, body, purchase id). And every table with a user_id column
is either in the export or listed here with the reason it is not (its erasure: test_accounts.py,
test_every_user_owned_table_cascades_from_users)."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support import PASSWORD, bearer, sign_up

Client = AsyncTestClient[Litestar]
AUTH = "/api/v1/auth"

# Each user_id table and the export key that carries it.
EXPORTED = {
    "account_tokens": "account_tokens",
    "ai_usage": "ai_usage",
    "analytics_events": "analytics_events",
    "cooking_log": "cooking_log",
    "email_outbox": "emails",
    "favorite_recipes": "recipe_activity",
    "imported_billing_bindings": "imported_billing_bindings",
    "imported_refresh_tokens": "imported_refresh_tokens",
    "live_session_invitations": "live_session_invitations",
    "live_session_messages": "live_session_messages",
    "live_session_participants": "live_session_participations",
    "promotional_actions": "promotional_actions",
    "purchase_validations": "purchase_validations",
    "recipe_ratings": "recipe_activity",
    "recipes": "recipes",
    "referral_attributions": "referral",
    "saved_recipes": "recipe_activity",
    "scans": "scans",
    "sessions": "sessions",
    "streaks": "streak",
    "subscription_status_history": "subscription_history",
    "subscriptions": "subscriptions",
    "supabase_sessions": "supabase_sessions",
    "user_achievements": "achievements",
    "user_identities": "identities",
    "xp_ledger": "xp_awards",
}
# Each user_id table left out of the export, and why.
NOT_EXPORTED = {
    "refresh_tokens": "secrets (hashes of live refresh tokens); the session each belongs to is exported",
    "purchase_proofs": "encrypted purchase proofs (receipts, signed transactions): credentials, never exported",
    "billing_security_events": "fraud signals about the account, kept for the fraud report, not personal content",
    "stripe_customers": "Stripe's customer id, an internal key; the subscriptions it pays are exported",
    "usage_counters": "quota counters (scans per day), derived and short-lived",
    "xp_totals": "derived: the sum of the exported XP awards",
    "xp_period_totals": "derived: the XP awards summed per leaderboard period",
    "recipe_sessions": "the AI generation's working state for previews; the recipes it produced are exported",
}


async def _user_tables(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch(
        """
        select c.table_name from information_schema.columns c
        join information_schema.tables t on (t.table_schema, t.table_name) = (c.table_schema, c.table_name)
        where c.table_schema = 'public' and c.column_name = 'user_id' and t.table_type = 'BASE TABLE'
        """
    )
    return {r["table_name"] for r in rows}


async def test_every_user_table_is_exported_or_left_out_for_a_stated_reason(
    client: Client, db: asyncpg.Connection
) -> None:
    assert not set(EXPORTED) & set(NOT_EXPORTED)
    assert await _user_tables(db) == set(EXPORTED) | set(NOT_EXPORTED)
    auth = await sign_up(client)
    exported = (await client.get(AUTH + "/export", headers=bearer(auth))).json()
    assert set(EXPORTED.values()) <= set(exported)


async def _seed(db: asyncpg.Connection, user_id: uuid.UUID, secret: str) -> None:
    """One row of each new kind for the user, each carrying `secret` where its secret lives."""
    session_id = await db.fetchval("insert into sessions (user_id) values ($1) returning id", user_id)
    await db.execute(
        "insert into supabase_sessions (supabase_session_id, user_id, session_id) values ($1, $2, $3)",
        uuid.uuid4(),
        user_id,
        session_id,
    )
    await db.execute(
        "insert into imported_refresh_tokens (token_hash, user_id, exchanged_at) values ($1, $2, now())",
        hashlib.sha256(f"refresh-{secret}".encode()).digest(),
        user_id,
    )
    await db.execute(
        "insert into account_tokens (user_id, purpose, token_hash, email, expires_at)"
        " values ($1, 'password_reset', $2, 'me@example.com', now() + interval '1 hour')",
        user_id,
        hashlib.sha256(f"link-{secret}".encode()).digest(),
    )
    await db.execute(
        "insert into email_outbox (user_id, kind, recipient, subject, text_body, html_body, message_id)"
        " values ($1, 'password_reset', 'me@example.com', 'Reset your CookCam password', $2, $2, $3)",
        user_id,
        f"https://cookcam.example/account/reset-password?token=link-{secret}",
        f"<{secret}@cookcam.example>",
    )
    await db.execute(
        "insert into imported_billing_bindings (provider, provider_subscription_id, user_id, environment)"
        " values ('google', $1, $2, 'production')",
        f"purchase-token-{secret}",
        user_id,
    )


async def test_the_export_has_the_new_sections_without_their_secrets(client: Client, db: asyncpg.Connection) -> None:
    auth, other = await sign_up(client), await sign_up(client)
    user_id, other_id = uuid.UUID(auth["user"]["id"]), uuid.UUID(other["user"]["id"])
    secret, others_secret = uuid.uuid4().hex, uuid.uuid4().hex
    await _seed(db, user_id, secret)
    await _seed(db, other_id, others_secret)

    response = await client.get(AUTH + "/export", headers=bearer(auth))
    assert response.status_code == 200, response.text
    body = response.json()
    [supabase] = body["supabase_sessions"]
    assert supabase["session_id"] in {s["id"] for s in body["sessions"]}
    [refresh] = body["imported_refresh_tokens"]
    assert refresh["imported_at"] and refresh["exchanged_at"]
    assert set(refresh) == {"imported_at", "exchanged_at"}
    # Sign-up sent a verification link and its email too; the ones seeded here are the reset link and its email.
    [link] = [t for t in body["account_tokens"] if t["purpose"] == "password_reset"]
    assert (link["purpose"], link["email"], link["used_at"]) == ("password_reset", "me@example.com", None)
    assert set(link) == {"purpose", "email", "created_at", "expires_at", "used_at"}
    [email] = [e for e in body["emails"] if e["kind"] == "password_reset"]
    assert (email["kind"], email["recipient"], email["status"]) == ("password_reset", "me@example.com", "pending")
    assert set(email) == {"kind", "recipient", "subject", "status", "created_at", "sent_at"}
    [binding] = body["imported_billing_bindings"]
    assert (binding["provider"], binding["environment"], binding["outcome"]) == ("google", "production", None)
    assert set(binding) == {"provider", "environment", "outcome", "imported_at", "resolved_at"}

    text = response.text
    for kind in ("refresh", "link"):
        digest = hashlib.sha256(f"{kind}-{secret}".encode()).digest()
        assert digest.hex() not in text and secret not in text
        assert "token_hash" not in text
    assert "reset-password?token" not in text and "purchase-token" not in text
    assert others_secret not in text and str(other_id) not in text


async def test_deletion_erases_every_new_kind_and_only_the_accounts(client: Client, db: asyncpg.Connection) -> None:
    auth, other = await sign_up(client), await sign_up(client)
    user_id, other_id = uuid.UUID(auth["user"]["id"]), uuid.UUID(other["user"]["id"])
    await _seed(db, user_id, uuid.uuid4().hex)
    await _seed(db, other_id, uuid.uuid4().hex)
    tables = (
        *("supabase_sessions", "imported_refresh_tokens", "account_tokens", "email_outbox"),
        *("imported_billing_bindings", "sessions", "user_identities"),
    )

    async def owned(owner: uuid.UUID) -> dict[str, int]:
        return {t: await db.fetchval(f"select count(*) from {t} where user_id = $1", owner) for t in tables}

    others = await owned(other_id)
    deleted = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await owned(user_id) == dict.fromkeys(tables, 0)
    assert await owned(other_id) == others
