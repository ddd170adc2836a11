"""Google Play purchases end to end through the routes: purchase tokens validated against a loopback
androidpublisher fake (with Google's OAuth service-account flow), acknowledged, superseded by linked tokens, and
real-time developer notifications pushed with a Pub/Sub OIDC token signed by the fake's key."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import GoogleSettings, OutboundSettings, Settings
from tests.conftest import make_settings
from tests.fakes.google import PUBSUB_PUSH_EMAIL, FakeGoogle, fake_google
from tests.support import bearer, sign_up

VALIDATE = "/api/v1/iap/validate-receipt"
NOTIFY = "/api/v1/iap/notifications/google"
AUDIENCE = "https://api.cookcam.test/api/v1/iap/notifications/google"
FAST_RETRIES = OutboundSettings(retry_attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.05)
RENEWED, CANCELED, IN_GRACE, ON_HOLD, RECOVERED, REVOKED, EXPIRED = 2, 3, 6, 5, 1, 12, 13


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    with fake_google() as fake:
        yield fake


def play_settings(google: FakeGoogle, database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing Google Play, its OAuth and its push certificates at the fake."""
    key_file = google.write_service_account(tmp_path / "service-account.json")
    google_settings = GoogleSettings(
        service_account_file=str(key_file),
        androidpublisher_base=google.base_url,
        rtdn_audience=AUDIENCE,
        rtdn_service_account_email=PUBSUB_PUSH_EMAIL,
        oidc_certs_url=google.certs_url,
    )
    return msgspec.structs.replace(make_settings(database_url), google=google_settings, outbound=FAST_RETRIES)


@pytest.fixture
async def play(google: FakeGoogle, database_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    google.reset()
    async with AsyncTestClient(app=create_app(play_settings(google, database_url, tmp_path))) as client:
        yield client


async def _validate(client, auth: dict, token: str):
    return await client.post(VALIDATE, headers=bearer(auth), json={"platform": "android", "purchase_token": token})


async def _push(
    client,
    google: FakeGoogle,
    token: str,
    kind: int,
    *,
    message_id: str | None = None,
    event_time_ms: int | None = None,
    **auth,
):
    notification = google.subscription_notification(token, kind, event_time_ms=event_time_ms)
    body = google.push_body(notification, message_id=message_id)
    bearer_token = google.pubsub_token(audience=auth.get("audience", AUDIENCE), signer=auth.get("signer", "google"))
    return await client.post(NOTIFY, json=body, headers={"Authorization": f"Bearer {bearer_token}"})


async def _tier(client, auth: dict) -> str:
    return (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()["tier_slug"]


async def test_a_purchase_is_validated_acknowledged_and_bound(play, google, db: asyncpg.Connection) -> None:
    auth = await sign_up(play)
    account = hashlib.sha256(auth["user"]["id"].encode()).hexdigest()
    google.add_subscription("tok-1", product_id="com.cookcam.creator.yearly", obfuscated_account_id=account)
    response = await _validate(play, auth, "tok-1")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["tier"]) == ("active", "creator")
    assert google.acknowledgements["tok-1"] == 1  # Google refunds unacknowledged purchases after three days
    again = await _validate(play, auth, "tok-1")
    assert again.status_code == 200
    assert google.acknowledgements["tok-1"] == 1
    assert await db.fetchval("select billing_period from subscriptions") == "yearly"


async def test_a_token_replayed_from_another_account_is_refused(play, google, db) -> None:
    owner, thief = await sign_up(play), await sign_up(play)
    google.add_subscription("tok-shared")
    assert (await _validate(play, owner, "tok-shared")).status_code == 200
    replay = await _validate(play, thief, "tok-shared")
    assert (replay.status_code, replay.json()["code"]) == (409, "SUBSCRIPTION_OWNED_ELSEWHERE")
    assert await db.fetchval("select user_id::text from billing_security_events") == thief["user"]["id"]


async def test_a_token_bound_by_the_app_to_another_account_is_refused(play, google) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-other", obfuscated_account_id=str(uuid.uuid4()))
    refused = await _validate(play, auth, "tok-other")
    assert (refused.status_code, refused.json()["code"]) == (409, "PURCHASE_ACCOUNT_MISMATCH")
    assert google.acknowledgements["tok-other"] == 0


async def test_an_upgrade_supersedes_the_linked_purchase(play, google, db: asyncpg.Connection) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-regular", product_id="com.cookcam.pro.monthly")
    await _validate(play, auth, "tok-regular")
    google.add_subscription(
        "tok-creator", product_id="com.cookcam.creator.monthly", linked_purchase_token="tok-regular"
    )
    assert (await _validate(play, auth, "tok-creator")).json()["tier"] == "creator"
    statuses = dict(await db.fetch("select provider_subscription_id, status from subscriptions"))
    assert statuses == {"tok-regular": "expired", "tok-creator": "active"}


async def test_unknown_tokens_products_and_outages(play, google) -> None:
    auth = await sign_up(play)
    unknown = await _validate(play, auth, "tok-unknown")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "PURCHASE_TOKEN_INVALID")
    google.add_subscription("tok-coins", product_id="com.cookcam.coins.100")
    assert (await _validate(play, auth, "tok-coins")).json()["code"] == "PRODUCT_UNKNOWN"
    google.add_subscription("tok-later")
    google.fail_next(503, times=10)
    down = await _validate(play, auth, "tok-later")
    assert (down.status_code, down.json()["code"]) == (503, "PAYMENT_PROVIDER_UNAVAILABLE")
    assert "retry-after" in down.headers


async def test_notifications_follow_the_lifecycle_from_googles_own_state(play, google, db) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-life", free_trial=True)
    assert (await _validate(play, auth, "tok-life")).json()["status"] == "trialing"
    steps = [
        (RENEWED, {"free_trial": False}, "active", "regular"),
        (IN_GRACE, {"state": "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"}, "grace_period", "regular"),
        (ON_HOLD, {"state": "SUBSCRIPTION_STATE_ON_HOLD"}, "billing_retry", "free"),
        (RECOVERED, {"state": "SUBSCRIPTION_STATE_ACTIVE"}, "active", "regular"),
        (CANCELED, {"state": "SUBSCRIPTION_STATE_CANCELED", "auto_renew": False}, "cancelled", "regular"),
        (REVOKED, {"state": "SUBSCRIPTION_STATE_EXPIRED"}, "revoked", "free"),
    ]
    for kind, changes, status, tier in steps:
        google.update_subscription("tok-life", **changes)
        response = await _push(play, google, "tok-life", kind)
        assert response.status_code == 200, (kind, response.text)
        assert await db.fetchval("select status from subscriptions") == status, kind
        assert await _tier(play, auth) == tier, kind


async def test_pushes_are_authenticated_and_deduplicated(play, google, db: asyncpg.Connection) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-push")
    await _validate(play, auth, "tok-push")
    first = await _push(play, google, "tok-push", RENEWED, message_id="m-1")
    assert first.json()["outcome"] == "processed"
    assert (await _push(play, google, "tok-push", RENEWED, message_id="m-1")).json()["outcome"] == "duplicate"
    assert (await _push(play, google, "tok-push", RENEWED, signer="stranger")).status_code == 401
    assert (await _push(play, google, "tok-push", RENEWED, audience="https://elsewhere.test")).status_code == 401
    unsigned = await play.post(NOTIFY, json=google.push_body(google.subscription_notification("tok-push", RENEWED)))
    assert unsigned.status_code == 401
    assert await db.fetchval("select count(*) from provider_events") == 1


async def test_a_push_for_an_unbound_purchase_of_a_known_account_binds_it(play, google, db) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-bind", obfuscated_account_id=auth["user"]["id"])
    assert (await _push(play, google, "tok-bind", 4)).status_code == 200  # SUBSCRIPTION_PURCHASED
    assert await _tier(play, auth) == "regular"
    assert google.acknowledgements["tok-bind"] == 1
    google.add_subscription("tok-nobody")
    assert (await _push(play, google, "tok-nobody", 4)).json()["outcome"] == "processed"
    assert await db.fetchval("select count(*) from subscriptions where provider_subscription_id = 'tok-nobody'") == 0


async def test_google_unconfigured_answers_503(client) -> None:
    auth = await sign_up(client)
    response = await _validate(client, auth, "tok")
    assert (response.status_code, response.json()["code"]) == (503, "GOOGLE_UNCONFIGURED")
    push = await client.post(NOTIFY, json={}, headers={"Authorization": "Bearer x"})
    assert (push.status_code, push.json()["code"]) == (503, "GOOGLE_UNCONFIGURED")


async def test_refresh_status_asks_google_again(play, google, db: asyncpg.Connection) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-refresh")
    await _validate(play, auth, "tok-refresh")
    google.update_subscription("tok-refresh", state="SUBSCRIPTION_STATE_ON_HOLD")
    refreshed = await play.post("/api/v1/subscription/refresh-status", headers=bearer(auth))
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["tier_slug"] == "free"
    assert await db.fetchval("select cause_kind from subscription_status_history order by id desc limit 1") == "api"


# --- the ordering rule (docs/payments.md): a purchase token that ended stays ended -----------------------------------

# Notifications that do not end the purchase, with the state Play's subscriptionsv2 answers for them.
RUNNING_PUSHES = [
    (RENEWED, {"state": "SUBSCRIPTION_STATE_ACTIVE"}, "active"),
    (RECOVERED, {"state": "SUBSCRIPTION_STATE_ACTIVE"}, "active"),
    (CANCELED, {"state": "SUBSCRIPTION_STATE_CANCELED", "auto_renew": False}, "cancelled"),
    (IN_GRACE, {"state": "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"}, "grace_period"),
]
# Endings: after a revocation (refund) and after expiry Play answers SUBSCRIPTION_STATE_EXPIRED for the token.
ENDING_PUSHES = [(REVOKED, "revoked"), (EXPIRED, "expired")]


@pytest.mark.parametrize("ending", ENDING_PUSHES, ids=lambda e: e[1])
@pytest.mark.parametrize("running", RUNNING_PUSHES, ids=lambda r: r[2])
@pytest.mark.parametrize("order", ["ending-last", "ending-first", "ending-first-read-behind"])
async def test_an_ending_wins_against_any_push_of_the_same_moment(
    play: AsyncTestClient[Any],
    google: FakeGoogle,
    db: asyncpg.Connection,
    running: tuple[int, dict[str, object], str],
    ending: tuple[int, str],
    order: str,
) -> None:
    """Both pushes carry the same eventTimeMillis. "ending-first": the running one is delivered late (Pub/Sub does
    not keep order); "read-behind": and Play's read for it still shows the running state."""
    (running_kind, running_state, _), (ending_kind, ending_status) = running, ending
    auth = await sign_up(play)
    token = f"tok-{uuid.uuid4().hex[:8]}"
    google.add_subscription(token)
    assert (await _validate(play, auth, token)).json()["status"] == "active"
    moment = int(time.time() * 1000) + 1000
    if order == "ending-last":
        google.update_subscription(token, **running_state)
        assert (await _push(play, google, token, running_kind, event_time_ms=moment)).status_code == 200
    google.update_subscription(token, state="SUBSCRIPTION_STATE_EXPIRED", expiry=datetime.now(UTC))
    assert (await _push(play, google, token, ending_kind, event_time_ms=moment)).status_code == 200
    if order != "ending-last":
        if order == "ending-first-read-behind":
            google.update_subscription(token, **running_state)
        assert (await _push(play, google, token, running_kind, event_time_ms=moment)).status_code == 200
    assert await db.fetchval("select status from subscriptions") == ending_status
    assert await _tier(play, auth) == "free"
    # Neither a later validation nor reconciliation's read brings the token back.
    assert (await _validate(play, auth, token)).json()["status"] == ending_status
    assert await _tier(play, auth) == "free"


async def test_pushes_are_ordered_by_their_event_time_not_their_arrival(
    play: AsyncTestClient[Any], google: FakeGoogle, db: asyncpg.Connection
) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-order")
    await _validate(play, auth, "tok-order")
    later = int(time.time() * 1000) + 60_000
    google.update_subscription("tok-order", state="SUBSCRIPTION_STATE_CANCELED", auto_renew=False)
    assert (await _push(play, google, "tok-order", CANCELED, event_time_ms=later)).status_code == 200
    # An older push delivered late, and Play's read for it has not caught up: stamped with its own eventTimeMillis,
    # it is older than what is stored.
    google.update_subscription("tok-order", state="SUBSCRIPTION_STATE_ACTIVE", auto_renew=True)
    assert (await _push(play, google, "tok-order", RENEWED, event_time_ms=later - 30_000)).status_code == 200
    assert await db.fetchval("select status from subscriptions") == "cancelled"
    stamped = await db.fetchval("select (extract(epoch from provider_updated_at) * 1000)::bigint from subscriptions")
    assert stamped == later


async def test_a_revoked_purchase_token_answers_revoked_on_both_validation_paths(
    play: AsyncTestClient[Any],
    google: FakeGoogle,
    db: asyncpg.Connection,
) -> None:
    auth = await sign_up(play)
    google.add_subscription("tok-refunded")
    assert (await _validate(play, auth, "tok-refunded")).json()["status"] == "active"
    google.update_subscription("tok-refunded", state="SUBSCRIPTION_STATE_EXPIRED", expiry=datetime.now(UTC))
    assert (await _push(play, google, "tok-refunded", REVOKED)).status_code == 200
    # Play now reads EXPIRED for the token; what we know (the revocation) is newer than what that read says.
    answer = await _validate(play, auth, "tok-refunded")
    assert (answer.json()["status"], answer.json()["tier"]) == ("revoked", "free")
    alias = await play.post(
        "/api/v1/subscription/validate-purchase",
        headers=bearer(auth),
        json={"platform": "android", "purchase_token": "tok-refunded"},
    )
    assert (alias.json()["status"], alias.json()["tier"]) == ("revoked", "free")
    outcomes = await db.fetch("select outcome from purchase_validations order by created_at")
    assert [row["outcome"] for row in outcomes] == ["valid", "revoked", "revoked"]


async def test_a_push_whose_event_time_is_no_date_is_refused_not_500(play, google, db: asyncpg.Connection) -> None:
    """eventTimeMillis beyond any date (a string of digits, as Play sends it): 422 STORE_TIME_INVALID, the
    subscription untouched; the push is kept as a failed event like any other unprocessable one."""
    auth = await sign_up(play)
    google.add_subscription("tok-far")
    await _validate(play, auth, "tok-far")
    google.update_subscription("tok-far", state="SUBSCRIPTION_STATE_EXPIRED")
    refused = await _push(play, google, "tok-far", REVOKED, event_time_ms=10**20)
    assert (refused.status_code, refused.json()["code"]) == (422, "STORE_TIME_INVALID"), refused.text
    assert await db.fetchval("select status from subscriptions") == "active"
    assert await db.fetchval("select status from provider_events where provider = 'google'") == "failed"
