"""The revenue share's trigger on subscriptions (migration 0057) against what the Python share did before it: the
same period keys (earnings recorded before the move are found by them), and the recording's context visible to it
only while a recording writes."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import pytest

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from app.creators.revenue import period_key

UTC = datetime.UTC


@pytest.mark.parametrize(
    "start",
    [
        datetime.datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
        datetime.datetime(2026, 1, 31, 23, 59, 59, 123456, tzinfo=UTC),
        datetime.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime.datetime(2026, 6, 1, 2, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
        datetime.datetime(1999, 12, 31, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))),
    ],
)
async def test_a_period_is_keyed_as_the_python_share_keyed_it(db: asyncpg.Connection, start: datetime.datetime) -> None:
    # Before migration 0057 the key was period_key(provider, id, start.astimezone(UTC).isoformat()).
    by_start = await db.fetchval("select cookcam_period_key('apple', 'orig-1', null, $1)", start)
    assert by_start == period_key("apple", "orig-1", start.astimezone(UTC).isoformat())
    by_order = await db.fetchval("select cookcam_period_key('google', 'tok-1', 'GPA.1234-5678', $1)", start)
    assert by_order == period_key("google", "tok-1", "GPA.1234-5678")


async def test_the_recordings_context_is_gone_once_it_has_written(db: asyncpg.Connection) -> None:
    user_id = uuid.uuid4()
    await db.execute(
        "insert into users (id, email, password_hash, name) values ($1, $2, '!unusable', 'T')",
        user_id,
        f"share-{user_id}@example.com",
    )
    now = datetime.datetime.now(UTC)
    state = ProviderState(
        user_id=user_id,
        provider="stripe",
        provider_subscription_id=f"sub_{user_id.hex[:12]}",
        tier_slug="regular",
        status="active",
        billing_period="monthly",
        current_period_start=now,
        current_period_end=now + datetime.timedelta(days=30),
        provider_updated_at=now,
    )
    async with db.transaction():
        assert await record_subscription_state(db, state, Cause("test", "context"), billing_hooks()) == "created"
        # A later write in the same transaction is not the recording's: the trigger must not take it for one.
        assert await db.fetchval("select current_setting('cookcam.recording_context', true)") == ""
