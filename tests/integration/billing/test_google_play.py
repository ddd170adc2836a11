"""The Google Play client against the loopback fake of Google's token endpoint, androidpublisher v3 and OIDC
certificates: purchases mapped onto our states, retries, the cached access token, acknowledgement, Pub/Sub push
authentication and push decoding. No database: these are client tests."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.billing.stores.google.play_api import STATUS_BY_STATE, GooglePlay
from app.billing.stores.google.push import NOTIFICATION_TYPES, PushAuthenticator, decode_push
from app.core.errors import BadGateway, BadRequest, ServiceUnavailable, Unauthorized, Unprocessable
from app.core.http import create_http_client
from app.settings import Settings, load_settings
from tests.fakes.google import PUBSUB_PUSH_EMAIL, FakeGoogle, NotificationType, fake_google

AUDIENCE = "https://api.cookcam.test/api/v1/billing/google/rtdn"


@pytest.fixture(scope="module")
def served_google() -> Iterator[FakeGoogle]:
    """One fake for the module (stopping a server costs ~0.5 s); `google` resets it for each test."""
    with fake_google() as google:
        yield google


@pytest.fixture
def google(served_google: FakeGoogle) -> Iterator[FakeGoogle]:
    served_google.reset()
    yield served_google
    served_google.reset()


@pytest.fixture(scope="module")
def key_file(served_google: FakeGoogle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return served_google.write_service_account(tmp_path_factory.mktemp("google") / "service-account.json")


def settings_for(google: FakeGoogle, key_file: Path | None, **env: str) -> Settings:
    environ = {
        "APP_ENV": "test",
        "GOOGLE_ANDROIDPUBLISHER_BASE": google.base_url,
        "GOOGLE_OIDC_CERTS_URL": google.certs_url,
        "GOOGLE_RTDN_AUDIENCE": AUDIENCE,
        "GOOGLE_RTDN_SERVICE_ACCOUNT_EMAIL": PUBSUB_PUSH_EMAIL,
        "OUTBOUND_TIMEOUT_SECONDS": "5",
        "OUTBOUND_RETRY_ATTEMPTS": "3",
        "OUTBOUND_RETRY_INITIAL_SECONDS": "0.01",
        "OUTBOUND_RETRY_MAX_SECONDS": "0.05",
    }
    if key_file is not None:
        environ["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(key_file)
    environ.update(env)
    return load_settings(environ)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client() as client:
        yield client


@pytest.fixture
def play(google: FakeGoogle, key_file: Path, http: httpx.AsyncClient) -> GooglePlay:
    return GooglePlay(settings_for(google, key_file), http)


@pytest.fixture
def push(google: FakeGoogle, key_file: Path, http: httpx.AsyncClient) -> PushAuthenticator:
    settings = settings_for(google, key_file)
    return PushAuthenticator(settings.google, settings.outbound, http)


def whole_millis(moment: datetime) -> datetime:
    """Google's timestamps carry milliseconds; compare with what it can express."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def publisher_requests(google: FakeGoogle) -> list[tuple[str, str]]:
    return [request for request in google.requests if request[1].startswith("/androidpublisher/")]


def certs_requests(google: FakeGoogle) -> int:
    return sum(1 for _, path in google.requests if path == "/oauth2/v1/certs")


# -- Purchases -----------------------------------------------------------------------------------------------------


async def test_active_purchase_is_mapped(google: FakeGoogle, play: GooglePlay) -> None:
    expiry = whole_millis(datetime.now(UTC) + timedelta(days=365))
    resource = google.add_subscription(
        "token-active", product_id="com.cookcam.creator.yearly", expiry=expiry, obfuscated_account_id="acct-42"
    )
    before = datetime.now(UTC)

    purchase = await play.fetch("token-active")

    assert play.configured
    assert purchase.provider == "google"
    assert purchase.identity == "token-active"
    assert purchase.product_id == "com.cookcam.creator.yearly"
    assert (purchase.tier_slug, purchase.billing_period) == ("creator", "yearly")
    assert purchase.status == "active"
    assert purchase.environment == "production"
    assert purchase.current_period_end == expiry
    assert purchase.current_period_start == datetime.fromisoformat(resource["startTime"])
    assert purchase.order_id == resource["lineItems"][0]["latestSuccessfulOrderId"]
    assert purchase.trial_ends_at is None
    assert purchase.cancel_at_period_end is False
    assert purchase.account_token == "acct-42"
    assert purchase.supersedes is None
    assert purchase.needs_acknowledgement is True
    assert before <= purchase.observed_at <= datetime.now(UTC)


async def test_free_trial_is_trialing(google: FakeGoogle, play: GooglePlay) -> None:
    expiry = whole_millis(datetime.now(UTC) + timedelta(days=7))
    google.add_subscription("token-trial", free_trial=True, expiry=expiry, acknowledged=True)

    purchase = await play.fetch("token-trial")

    assert purchase.status == "trialing"
    assert purchase.trial_ends_at == expiry
    assert purchase.needs_acknowledgement is False
    assert (purchase.tier_slug, purchase.billing_period) == ("regular", "monthly")


@pytest.mark.parametrize(
    ("state", "status", "cancel_at_period_end"),
    [
        ("SUBSCRIPTION_STATE_ACTIVE", "active", False),
        ("SUBSCRIPTION_STATE_CANCELED", "cancelled", True),  # Google turns auto-renew off when canceled
        ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", "grace_period", False),
        ("SUBSCRIPTION_STATE_ON_HOLD", "billing_retry", False),
        ("SUBSCRIPTION_STATE_PAUSED", "paused", False),
        ("SUBSCRIPTION_STATE_EXPIRED", "expired", False),
        ("SUBSCRIPTION_STATE_PENDING", "billing_retry", False),
        ("SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", "expired", False),
    ],
)
async def test_each_subscription_state_is_mapped(
    google: FakeGoogle, play: GooglePlay, state: str, status: str, cancel_at_period_end: bool
) -> None:
    google.add_subscription("token-state", state=state)

    purchase = await play.fetch("token-state")

    assert purchase.status == status == STATUS_BY_STATE[state]
    assert purchase.cancel_at_period_end is cancel_at_period_end


async def test_auto_renew_off_cancels_at_period_end(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-no-renew", auto_renew=False)
    google.add_subscription("token-grace-no-renew", state="SUBSCRIPTION_STATE_IN_GRACE_PERIOD", auto_renew=False)

    assert (await play.fetch("token-no-renew")).cancel_at_period_end is True
    assert (await play.fetch("token-grace-no-renew")).cancel_at_period_end is True


async def test_unknown_state_grants_nothing_and_does_not_end_the_token(google: FakeGoogle, play: GooglePlay) -> None:
    # A state Google may add later: the fake only renders known ones, so the record is altered after validation.
    google.add_subscription("token-future")
    google.subscriptions["token-future"].state = "SUBSCRIPTION_STATE_SOMETHING_NEW"

    # Not "expired": an ended token is final, and a state we do not know may not be an end.
    assert (await play.fetch("token-future")).status == "billing_retry"


async def test_test_purchase_is_sandbox(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-tester", test_purchase=True)

    assert (await play.fetch("token-tester")).environment == "sandbox"


async def test_a_renewal_is_a_new_period_with_its_own_order(google: FakeGoogle, play: GooglePlay) -> None:
    """Google reports no period start and keeps `startTime` across renewals: the period starts one billing period
    before the new `expiryTime`, and is identified by the renewal's order ("..N")."""
    first = google.add_subscription("token-renewing")
    started = datetime.fromisoformat(first["startTime"])
    first_expiry = datetime.fromisoformat(first["lineItems"][0]["expiryTime"])
    google.renew("token-renewing")
    renewed = google.renew("token-renewing")

    purchase = await play.fetch("token-renewing")

    base_order = first["lineItems"][0]["latestSuccessfulOrderId"]
    assert purchase.order_id == renewed["lineItems"][0]["latestSuccessfulOrderId"] == f"{base_order}..1"
    assert datetime.fromisoformat(renewed["startTime"]) == started
    second_expiry = purchase.current_period_start
    assert second_expiry is not None and purchase.current_period_end is not None
    assert first_expiry < second_expiry < purchase.current_period_end
    assert timedelta(days=28) <= purchase.current_period_end - second_expiry <= timedelta(days=31)
    assert purchase.status == "active"


async def test_a_yearly_period_starts_a_year_before_its_expiry_and_a_trial_at_the_start(
    google: FakeGoogle, play: GooglePlay
) -> None:
    expiry = whole_millis(datetime(2031, 3, 15, 12, tzinfo=UTC))
    google.add_subscription("token-yearly", product_id="com.cookcam.creator.yearly", expiry=expiry)
    google.update_subscription("token-yearly", start_time=datetime(2020, 1, 1, tzinfo=UTC))
    assert (await play.fetch("token-yearly")).current_period_start == datetime(2030, 3, 15, 12, tzinfo=UTC)
    # A seven-day trial ends long before a month after its start: the period is the trial, from the start.
    trial = google.add_subscription("token-trial", free_trial=True, expiry=datetime.now(UTC) + timedelta(days=7))
    assert (await play.fetch("token-trial")).current_period_start == datetime.fromisoformat(trial["startTime"])


async def test_linked_purchase_token_is_superseded(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-old")
    google.add_subscription(
        "token-upgraded", product_id="com.cookcam.creator.monthly", linked_purchase_token="token-old"
    )

    purchase = await play.fetch("token-upgraded")

    assert purchase.supersedes == "token-old"
    assert purchase.tier_slug == "creator"


async def test_unknown_product_is_refused(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-other-app", product_id="com.example.coins")

    with pytest.raises(Unprocessable) as caught:
        await play.fetch("token-other-app")

    assert caught.value.code == "PRODUCT_UNKNOWN"


async def test_unknown_gone_and_empty_tokens_are_invalid(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-gone")
    google.update_subscription("token-gone", gone=True)  # 410: expired too long ago

    for token in ("token-nobody-issued", "token-gone", "weird/token?with=chars", ""):
        with pytest.raises(Unprocessable) as caught:
            await play.fetch(token)
        assert caught.value.code == "PURCHASE_TOKEN_INVALID"
    # The empty token never reached Google; the odd characters were quoted into one path segment.
    assert len(publisher_requests(google)) == 3
    assert (
        "GET",
        "/androidpublisher/v3/applications/app.cookcam.android/purchases/subscriptionsv2/tokens/weird/token?with=chars",
    ) in google.requests


async def test_wrong_package_is_our_misconfiguration(
    google: FakeGoogle, key_file: Path, http: httpx.AsyncClient
) -> None:
    google.add_subscription("token-x")
    play = GooglePlay(settings_for(google, key_file, GOOGLE_PACKAGE_NAME="app.cookcam.wrong"), http)

    with pytest.raises(BadGateway) as caught:
        await play.fetch("token-x")

    assert caught.value.code == "PAYMENT_PROVIDER_ERROR"


# -- Retries ---------------------------------------------------------------------------------------------------------


async def test_transient_failures_are_retried(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-flaky")
    google.fail_next(503, times=2)

    purchase = await play.fetch("token-flaky")

    assert purchase.status == "active"
    assert len(publisher_requests(google)) == 3


async def test_unavailable_after_retries(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-down")
    google.fail_next(503, times=3)

    with pytest.raises(ServiceUnavailable) as caught:
        await play.fetch("token-down")

    assert caught.value.code == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(caught.value.headers["Retry-After"]) > 0
    assert len(publisher_requests(google)) == 3


async def test_long_retry_after_answers_at_once(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-quota")
    google.fail_next(429, retry_after=120)
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable) as caught:
        await play.fetch("token-quota")

    assert time.monotonic() - started < 2
    assert caught.value.headers["Retry-After"] == "120"
    assert len(publisher_requests(google)) == 1


# -- The access token ------------------------------------------------------------------------------------------------


async def test_access_token_is_cached_and_refreshed_when_refused(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-cached")

    await play.fetch("token-cached")
    await play.fetch("token-cached")
    assert google.tokens_issued == 1

    google.revoke_tokens()  # the cached token now answers 401
    purchase = await play.fetch("token-cached")

    assert purchase.status == "active"
    assert google.tokens_issued == 2
    assert len(publisher_requests(google)) == 4  # two fetches, then a refused call and its retry


async def test_concurrent_requests_refresh_once(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-busy")

    purchases = await asyncio.gather(*(play.fetch("token-busy") for _ in range(5)))

    assert {p.status for p in purchases} == {"active"}
    assert google.tokens_issued == 1


async def test_refused_credentials_are_a_provider_error(
    google: FakeGoogle, play: GooglePlay, caplog: pytest.LogCaptureFixture
) -> None:
    google.add_subscription("token-secret-value")
    google.fail_next(401, times=2)  # refused even with a fresh token
    google.fail_next(403)  # then: the service account lacks access to the app

    with caplog.at_level(logging.INFO, logger="cookcam"):
        for _ in range(2):
            with pytest.raises(BadGateway):
                await play.fetch("token-secret-value")

    assert google.tokens_issued == 2
    assert "refused our credentials" in caplog.text
    assert "token-secret-value" not in caplog.text


async def test_key_the_token_endpoint_refuses(google: FakeGoogle, http: httpx.AsyncClient, tmp_path: Path) -> None:
    info = google.service_account_info() | {"client_email": "stranger@elsewhere.iam.gserviceaccount.com"}
    key_file = tmp_path / "stranger.json"
    key_file.write_text(json.dumps(info))
    google.add_subscription("token-y")

    with pytest.raises(BadGateway):
        await GooglePlay(settings_for(google, key_file), http).fetch("token-y")
    assert google.tokens_issued == 0


async def test_unconfigured(google: FakeGoogle, http: httpx.AsyncClient, tmp_path: Path) -> None:
    unconfigured = GooglePlay(settings_for(google, None), http)
    missing_file = GooglePlay(settings_for(google, tmp_path / "absent.json"), http)

    assert not unconfigured.configured
    for play in (unconfigured, missing_file):
        with pytest.raises(ServiceUnavailable) as caught:
            await play.fetch("token-z")
        assert caught.value.code == "GOOGLE_UNCONFIGURED"


# -- Acknowledgement -------------------------------------------------------------------------------------------------


async def test_acknowledge(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-ack", product_id="com.cookcam.pro.yearly")
    purchase = await play.fetch("token-ack")
    assert purchase.needs_acknowledgement

    await play.acknowledge(purchase)

    assert google.acknowledgements["token-ack"] == 1
    assert google.subscriptions["token-ack"].acknowledged
    assert (await play.fetch("token-ack")).needs_acknowledgement is False


async def test_acknowledge_refused(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-ack-gone")
    purchase = await play.fetch("token-ack-gone")
    del google.subscriptions["token-ack-gone"]

    with pytest.raises(BadGateway):
        await play.acknowledge(purchase)


async def test_acknowledge_is_retried(google: FakeGoogle, play: GooglePlay) -> None:
    google.add_subscription("token-ack-flaky")
    purchase = await play.fetch("token-ack-flaky")
    google.fail_next(500)

    await play.acknowledge(purchase)

    assert google.acknowledgements["token-ack-flaky"] == 1


# -- Pub/Sub push authentication -------------------------------------------------------------------------------------


async def test_push_token_accepted_and_certificates_cached(google: FakeGoogle, push: PushAuthenticator) -> None:
    for _ in range(3):
        await push.verify(f"Bearer {google.pubsub_token(audience=AUDIENCE)}")

    assert certs_requests(google) == 1


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda g: f"Bearer {g.pubsub_token(audience=AUDIENCE, signer='stranger')}", id="forged"),
        pytest.param(lambda g: f"Bearer {g.pubsub_token(audience='https://elsewhere.test/push')}", id="audience"),
        pytest.param(lambda g: f"Bearer {g.pubsub_token(audience=AUDIENCE, email='intruder@evil.test')}", id="email"),
        pytest.param(
            lambda g: f"Bearer {g.pubsub_token(audience=AUDIENCE, email_verified=False)}", id="email-unverified"
        ),
        pytest.param(lambda g: f"Bearer {g.pubsub_token(audience=AUDIENCE, issuer='https://evil.test')}", id="issuer"),
        pytest.param(lambda g: f"Bearer {g.pubsub_token(audience=AUDIENCE, expires_in=-60)}", id="expired"),
        pytest.param(lambda g: f"Basic {g.pubsub_token(audience=AUDIENCE)}", id="scheme"),
        pytest.param(lambda g: "Bearer not.a.jwt", id="garbage"),
        pytest.param(lambda g: "Bearer ", id="empty"),
        pytest.param(lambda g: None, id="missing"),
    ],
)
async def test_push_token_rejected(google: FakeGoogle, push: PushAuthenticator, authorization: object) -> None:
    header = authorization(google)  # type: ignore[operator]

    with pytest.raises(Unauthorized) as caught:
        await push.verify(header)

    assert caught.value.code == "PUSH_UNAUTHENTICATED"


async def test_push_unconfigured(google: FakeGoogle, key_file: Path, http: httpx.AsyncClient) -> None:
    settings = settings_for(google, key_file, GOOGLE_RTDN_AUDIENCE="")
    push = PushAuthenticator(settings.google, settings.outbound, http)

    with pytest.raises(ServiceUnavailable) as caught:
        await push.verify(f"Bearer {google.pubsub_token(audience=AUDIENCE)}")

    assert caught.value.code == "GOOGLE_UNCONFIGURED"


async def test_unknown_kid_refetches_certificates_once(google: FakeGoogle, push: PushAuthenticator) -> None:
    original = google.oidc_kid
    try:
        await push.verify(f"Bearer {google.pubsub_token(audience=AUDIENCE)}")
        google.oidc_kid = "rotated-key"  # Google rotated: same key, new id, the old one unpublished
        await push.verify(f"Bearer {google.pubsub_token(audience=AUDIENCE)}")
        assert certs_requests(google) == 2

        google.oidc_kid = "made-up-key"  # a second unknown kid right away does not call Google again
        with pytest.raises(Unauthorized):
            await push.verify(f"Bearer {google.pubsub_token(audience=AUDIENCE)}")
        assert certs_requests(google) == 2
    finally:
        google.oidc_kid = original


# -- Push bodies -----------------------------------------------------------------------------------------------------


def test_decode_subscription_notification(google: FakeGoogle) -> None:
    notification = google.subscription_notification("token-rtdn", NotificationType.RENEWED)
    body = json.dumps(google.push_body(notification, message_id="1234567890")).encode()

    message = decode_push(body)

    assert message.message_id == "1234567890"
    assert message.subscription == "projects/cookcam-test/subscriptions/rtdn"
    assert message.publish_time is not None
    sent = message.notification
    assert sent.package_name == "app.cookcam.android"
    assert sent.subscription_notification is not None
    assert sent.subscription_notification.purchase_token == "token-rtdn"
    assert sent.subscription_notification.notification_type == 2
    assert sent.subscription_notification.subscription_id == "com.cookcam.pro.monthly"
    assert sent.event_type == "subscription.RENEWED"
    assert sent.event_time is not None
    assert abs((sent.event_time - datetime.now(UTC)).total_seconds()) < 60


def test_decode_voided_purchase_notification(google: FakeGoogle) -> None:
    notification = google.voided_purchase_notification("token-voided", "GPA.1234-5678-9012-34567..0")
    sent = decode_push(json.dumps(google.push_body(notification)).encode()).notification

    assert sent.event_type == "voided_purchase"
    assert sent.voided_purchase_notification is not None
    assert sent.voided_purchase_notification.purchase_token == "token-voided"
    assert sent.voided_purchase_notification.order_id == "GPA.1234-5678-9012-34567..0"
    assert (sent.voided_purchase_notification.product_type, sent.voided_purchase_notification.refund_type) == (1, 1)


def test_decode_test_notification_and_camel_only_envelope(google: FakeGoogle) -> None:
    body = google.push_body(google.test_notification(), message_id="77")
    del body["message"]["message_id"], body["message"]["publish_time"]

    message = decode_push(json.dumps(body).encode())

    assert message.message_id == "77"
    assert message.notification.event_type == "test"
    assert message.notification.subscription_notification is None


def test_notification_type_names() -> None:
    assert {kind.value: kind.name for kind in NotificationType} == NOTIFICATION_TYPES


def _envelope(data: str, **message: object) -> bytes:
    return json.dumps({"message": {"data": data, "messageId": "1", **message}, "subscription": "s"}).encode()


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"subscription": "s"}', id="no-message"),
        pytest.param(_envelope("***"), id="bad-base64"),
        pytest.param(_envelope(base64.b64encode(b"not json").decode()), id="data-not-json"),
        pytest.param(_envelope(_b64({"eventTimeMillis": "1"})), id="no-package"),
        pytest.param(
            _envelope(_b64({"packageName": "p", "subscriptionNotification": {"notificationType": "x"}})),
            id="bad-notification",
        ),
        pytest.param(
            json.dumps({"message": {"data": _b64({"packageName": "p"})}}).encode(),
            id="no-message-id",
        ),
    ],
)
def test_decode_malformed_push(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_push(body)

    assert caught.value.code == "PUSH_INVALID"
