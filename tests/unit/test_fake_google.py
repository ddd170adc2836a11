"""The Google fake is only useful if the official google-auth library accepts it unchanged: these tests drive it with
google-auth's own service-account refresh and ID-token verification, real RSA keys and real HTTP on loopback."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions
from google.auth.transport.requests import Request
from google.oauth2 import id_token, service_account

from tests.fakes.google import (
    ANDROIDPUBLISHER_SCOPE,
    JWT_BEARER_GRANT,
    SERVICE_ACCOUNT_EMAIL,
    FakeGoogle,
    NotificationType,
    billing_period_end,
    fake_google,
)

PACKAGE = "app.cookcam.android"
AUDIENCE = "https://api.cookcam.test/v1/billing/google/rtdn"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeGoogle]:
    with fake_google(package_name=PACKAGE) as fake:  # one server per module: each shutdown costs ~0.5 s
        yield fake


@pytest.fixture
def google(served: FakeGoogle) -> FakeGoogle:
    served.reset()
    return served


def credentials(info: dict[str, str], scopes: list[str] | None = None) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(info, scopes=scopes or [ANDROIDPUBLISHER_SCOPE])


def subscription_url(google: FakeGoogle, token: str, package: str = PACKAGE) -> str:
    return f"{google.base_url}/androidpublisher/v3/applications/{package}/purchases/subscriptionsv2/tokens/{token}"


def acknowledge_url(google: FakeGoogle, subscription_id: str, token: str) -> str:
    path = f"/androidpublisher/v3/applications/{PACKAGE}/purchases/subscriptions/{subscription_id}/tokens/{token}"
    return f"{google.base_url}{path}:acknowledge"


def bearer(google: FakeGoogle) -> dict[str, str]:
    creds = credentials(google.service_account_info())
    creds.refresh(Request())
    return {"Authorization": f"Bearer {creds.token}"}


def test_service_account_refresh_then_subscriptionsv2(google: FakeGoogle, tmp_path: Path) -> None:
    expiry = datetime(2030, 1, 31, 12, 0, tzinfo=UTC)
    google.add_subscription("tok-1", expiry=expiry, obfuscated_account_id="user-42", free_trial=True)
    path = google.write_service_account(tmp_path / "sa.json")
    assert json.loads(path.read_text())["token_uri"] == f"{google.base_url}/token"

    creds = service_account.Credentials.from_service_account_file(str(path), scopes=[ANDROIDPUBLISHER_SCOPE])
    creds.refresh(Request())
    assert creds.valid and creds.token.startswith("ya29.")
    assert google.tokens_issued == 1

    response = httpx.get(subscription_url(google, "tok-1"), headers={"Authorization": f"Bearer {creds.token}"})
    assert response.status_code == 200
    purchase = response.json()
    assert purchase["kind"] == "androidpublisher#subscriptionPurchaseV2"
    assert purchase["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert purchase["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_PENDING"
    assert purchase["externalAccountIdentifiers"] == {"obfuscatedExternalAccountId": "user-42"}
    assert purchase["startTime"].endswith("Z")
    assert "linkedPurchaseToken" not in purchase and "testPurchase" not in purchase
    [item] = purchase["lineItems"]
    assert item["productId"] == "com.cookcam.pro.monthly"
    assert item["expiryTime"] == "2030-01-31T12:00:00.000Z"
    assert item["autoRenewingPlan"] == {"autoRenewEnabled": True}
    assert item["offerDetails"] == {"basePlanId": "monthly", "offerTags": [], "offerId": "free-trial"}
    assert item["offerPhase"] == {"freeTrial": {}}
    assert item["latestSuccessfulOrderId"] == purchase["latestOrderId"]

    creds.refresh(Request())
    assert google.tokens_issued == 2
    assert google.requests.count(("POST", "/token")) == 2


def test_api_refuses_missing_unknown_and_revoked_bearers(google: FakeGoogle) -> None:
    google.add_subscription("tok-1")
    url = subscription_url(google, "tok-1")
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing.json()["error"]["code"] == 401
    assert httpx.get(url, headers={"Authorization": "Bearer ya29.made-up"}).status_code == 401

    headers = bearer(google)
    assert httpx.get(url, headers=headers).status_code == 200
    google.revoke_tokens()
    assert httpx.get(url, headers=headers).status_code == 401


def test_token_endpoint_refuses_forged_and_bad_assertions(google: FakeGoogle) -> None:
    info = google.service_account_info()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        **info,
        "private_key": other_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }
    with pytest.raises(exceptions.RefreshError, match="invalid_grant"):
        credentials(forged).refresh(Request())
    with pytest.raises(exceptions.RefreshError, match="invalid_scope"):
        credentials(info, ["https://www.googleapis.com/auth/cloud-platform"]).refresh(Request())

    now = int(time.time())
    expired = jwt.encode(
        {"iss": SERVICE_ACCOUNT_EMAIL, "aud": google.token_uri, "scope": ANDROIDPUBLISHER_SCOPE}
        | {"iat": now - 7200, "exp": now - 3600},
        info["private_key"],
        algorithm="RS256",
    )
    answer = httpx.post(google.token_uri, data={"grant_type": JWT_BEARER_GRANT, "assertion": expired})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert google.tokens_issued == 0

    # A hand-made assertion addressed to the key file's token_uri is accepted too (google-auth uses Google's URL).
    fresh = jwt.encode(
        {"iss": SERVICE_ACCOUNT_EMAIL, "aud": google.token_uri, "scope": ANDROIDPUBLISHER_SCOPE}
        | {"iat": now, "exp": now + 3600},
        info["private_key"],
        algorithm="RS256",
    )
    answer = httpx.post(google.token_uri, data={"grant_type": JWT_BEARER_GRANT, "assertion": fresh})
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == 3600
    assert google.tokens_issued == 1


def test_unknown_token_wrong_package_and_gone(google: FakeGoogle) -> None:
    google.add_subscription("tok-1")
    google.add_subscription("tok-old", state="SUBSCRIPTION_STATE_EXPIRED")
    google.update_subscription("tok-old", gone=True)
    headers = bearer(google)

    unknown = httpx.get(subscription_url(google, "nope"), headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    assert httpx.get(subscription_url(google, "tok-1", "com.other.app"), headers=headers).status_code == 404
    assert httpx.get(subscription_url(google, "tok-old"), headers=headers).status_code == 410


def test_acknowledge_flips_acknowledgement_state(google: FakeGoogle) -> None:
    google.add_subscription("tok-1")
    headers = bearer(google)
    answer = httpx.post(acknowledge_url(google, "com.cookcam.pro.monthly", "tok-1"), headers=headers, json={})
    assert answer.status_code == 200
    assert answer.content == b""
    assert google.acknowledgements["tok-1"] == 1
    purchase = httpx.get(subscription_url(google, "tok-1"), headers=headers).json()
    assert purchase["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
    wrong_product = httpx.post(acknowledge_url(google, "com.cookcam.pro.annual", "tok-1"), headers=headers, json={})
    assert wrong_product.status_code == 404


def test_canceled_subscription_renders_cancellation(google: FakeGoogle) -> None:
    google.add_subscription("tok-1", linked_purchase_token="tok-0", test_purchase=True)
    purchase = google.update_subscription("tok-1", state="SUBSCRIPTION_STATE_CANCELED")
    assert purchase["subscriptionState"] == "SUBSCRIPTION_STATE_CANCELED"
    assert purchase["canceledStateContext"]["userInitiatedCancellation"]["cancelTime"].endswith("Z")
    assert purchase["lineItems"][0]["autoRenewingPlan"] == {"autoRenewEnabled": False}
    assert purchase["linkedPurchaseToken"] == "tok-0"
    assert purchase["testPurchase"] == {}
    with pytest.raises(ValueError, match="subscriptionState"):
        google.update_subscription("tok-1", state="ACTIVE")


def test_fail_next_answers_429_with_retry_after_once(google: FakeGoogle) -> None:
    google.add_subscription("tok-1")
    headers = bearer(google)
    google.fail_next(429, retry_after=2)
    throttled = httpx.get(subscription_url(google, "tok-1"), headers=headers)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert httpx.get(subscription_url(google, "tok-1"), headers=headers).status_code == 200


def test_pubsub_token_verifies_with_google_auth(google: FakeGoogle) -> None:
    certs = httpx.get(google.certs_url)
    assert certs.headers["Cache-Control"].startswith("public, max-age=")
    assert list(certs.json()) == [google.oidc_kid]
    assert certs.json()[google.oidc_kid].startswith("-----BEGIN CERTIFICATE-----")

    request = Request()
    claims = id_token.verify_token(
        google.pubsub_token(audience=AUDIENCE), request, audience=AUDIENCE, certs_url=google.certs_url
    )
    assert claims["email"] == "pubsub-push@cookcam-test.iam.gserviceaccount.com"
    assert claims["email_verified"] is True
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["sub"] == claims["azp"]

    stranger = google.pubsub_token(audience=AUDIENCE, signer="stranger")
    with pytest.raises(ValueError, match="signature"):
        id_token.verify_token(stranger, request, audience=AUDIENCE, certs_url=google.certs_url)
    wrong_audience = google.pubsub_token(audience="https://elsewhere.test/push")
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(wrong_audience, request, audience=AUDIENCE, certs_url=google.certs_url)
    expired = google.pubsub_token(audience=AUDIENCE, expires_in=-60)
    with pytest.raises(ValueError, match="expired"):
        id_token.verify_token(expired, request, audience=AUDIENCE, certs_url=google.certs_url)


def test_push_body_carries_developer_notifications(google: FakeGoogle) -> None:
    notification = google.subscription_notification("tok-1", NotificationType.PURCHASED)
    body = google.push_body(notification, message_id="1234567890")
    message = body["message"]
    assert json.loads(base64.b64decode(message["data"])) == notification
    assert message["messageId"] == message["message_id"] == "1234567890"
    assert message["publishTime"] == message["publish_time"]
    assert body["subscription"] == "projects/cookcam-test/subscriptions/rtdn"
    assert notification["packageName"] == PACKAGE
    assert notification["eventTimeMillis"].isdigit()
    assert notification["subscriptionNotification"] == {
        "version": "1.0",
        "notificationType": 4,
        "purchaseToken": "tok-1",
        "subscriptionId": "com.cookcam.pro.monthly",
    }
    assert google.test_notification()["testNotification"] == {"version": "1.0"}


def test_expiry_defaults_to_one_billing_period(google: FakeGoogle) -> None:
    for token, product, days in (
        ("tok-1", "com.cookcam.pro.monthly", (28, 31)),
        ("tok-2", "com.cookcam.pro.yearly", (365, 366)),
    ):
        purchase = google.add_subscription(token, product_id=product)
        started = datetime.fromisoformat(purchase["startTime"])
        expiry = datetime.fromisoformat(purchase["lineItems"][0]["expiryTime"])
        assert timedelta(days=days[0]) - timedelta(seconds=1) < expiry - started <= timedelta(days=days[1])


def test_billing_period_end_keeps_the_day_or_takes_the_shorter_months_last() -> None:
    assert billing_period_end(datetime(2027, 1, 31, tzinfo=UTC), "x.monthly") == datetime(2027, 2, 28, tzinfo=UTC)
    assert billing_period_end(datetime(2027, 12, 15, tzinfo=UTC), "x.monthly") == datetime(2028, 1, 15, tzinfo=UTC)
    assert billing_period_end(datetime(2028, 2, 29, tzinfo=UTC), "x.yearly") == datetime(2029, 2, 28, tzinfo=UTC)


def test_a_renewal_is_a_new_order_and_a_new_expiry(google: FakeGoogle) -> None:
    first = google.add_subscription("tok-1", free_trial=True)
    base = first["latestOrderId"]
    assert ".." not in base
    renewals = [google.renew("tok-1"), google.renew("tok-1")]
    assert [r["latestOrderId"] for r in renewals] == [f"{base}..0", f"{base}..1"]
    assert [r["lineItems"][0]["latestSuccessfulOrderId"] for r in renewals] == [f"{base}..0", f"{base}..1"]
    expiries = [datetime.fromisoformat(r["lineItems"][0]["expiryTime"]) for r in [first, *renewals]]
    assert expiries == sorted(expiries) and len(set(expiries)) == 3
    assert {r["startTime"] for r in renewals} == {first["startTime"]}
    assert renewals[0]["lineItems"][0]["offerPhase"] == {"basePrice": {}}  # the trial is over


def test_voided_purchase_notification_is_the_documented_payload(google: FakeGoogle) -> None:
    notification = google.voided_purchase_notification("tok-1", "GPA.1-2-3-4..0", refund_type=2)
    assert notification["voidedPurchaseNotification"] == {
        "purchaseToken": "tok-1",
        "orderId": "GPA.1-2-3-4..0",
        "productType": 1,
        "refundType": 2,
    }
    assert notification["packageName"] == google.package_name and notification["eventTimeMillis"].isdigit()
