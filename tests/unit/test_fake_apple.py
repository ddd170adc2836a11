"""The Apple fakes are only worth having if Apple's own library accepts them: these tests check the signed payloads
with the official SignedDataVerifier (real chain validation, real signatures) and the HTTP fakes with real requests."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from appstoreserverlibrary.models.AutoRenewStatus import AutoRenewStatus
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.OfferDiscountType import OfferDiscountType
from appstoreserverlibrary.models.Status import Status
from appstoreserverlibrary.models.Subtype import Subtype
from appstoreserverlibrary.models.Type import Type
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.apple import (
    AppleSigner,
    FakeAppStoreServerApi,
    fake_app_store_server_api,
    fake_verify_receipt,
    now_ms,
)

BUNDLE = "app.cookcam.ios"


@pytest.fixture(scope="module")
def signer() -> AppleSigner:
    return AppleSigner()


def sandbox_verifier(signer: AppleSigner) -> SignedDataVerifier:
    return SignedDataVerifier([signer.root_der], False, Environment.SANDBOX, BUNDLE)


def test_verifier_accepts_a_signed_transaction(signer: AppleSigner) -> None:
    tx = signer.transaction(appAccountToken="7e3fb20b-4cdb-47cc-936d-99d65f608138", offerDiscountType="FREE_TRIAL")
    decoded = sandbox_verifier(signer).verify_and_decode_signed_transaction(signer.sign(tx))
    assert decoded.transactionId == tx["transactionId"] == decoded.originalTransactionId
    assert decoded.productId == "com.cookcam.pro.monthly"
    assert decoded.type == Type.AUTO_RENEWABLE_SUBSCRIPTION
    assert decoded.environment == Environment.SANDBOX
    assert decoded.offerDiscountType == OfferDiscountType.FREE_TRIAL and decoded.rawOfferType == 1
    assert decoded.appAccountToken == tx["appAccountToken"]
    assert decoded.expiresDate == tx["purchaseDate"] + 30 * 86_400_000
    assert "revocationDate" not in tx and signer.transaction()["transactionId"] != tx["transactionId"]


def test_verifier_accepts_renewal_info(signer: AppleSigner) -> None:
    tx = signer.transaction()
    renewal = signer.renewal_info(tx, isInBillingRetryPeriod=True)
    decoded = sandbox_verifier(signer).verify_and_decode_renewal_info(signer.sign(renewal))
    assert decoded.originalTransactionId == tx["originalTransactionId"]
    assert decoded.autoRenewStatus == AutoRenewStatus.ON
    assert decoded.renewalDate == tx["expiresDate"] and decoded.isInBillingRetryPeriod is True


def test_verifier_accepts_notifications_in_both_environments(signer: AppleSigner) -> None:
    tx = signer.transaction()
    body = signer.notification("SUBSCRIBED", "INITIAL_BUY", transaction=tx, renewal_info=signer.renewal_info(tx))
    verifier = sandbox_verifier(signer)
    decoded = verifier.verify_and_decode_notification(body["signedPayload"])
    assert decoded.notificationType == NotificationTypeV2.SUBSCRIBED and decoded.subtype == Subtype.INITIAL_BUY
    assert decoded.version == "2.0" and decoded.data is not None and decoded.data.status == Status.ACTIVE
    inner = verifier.verify_and_decode_signed_transaction(decoded.data.signedTransactionInfo or "")
    assert inner.transactionId == tx["transactionId"]

    production = SignedDataVerifier([signer.root_der], False, Environment.PRODUCTION, BUNDLE, 1234567890)
    prod_tx = signer.transaction(environment="Production")
    body = signer.notification("DID_RENEW", transaction=prod_tx, environment="Production")
    decoded = production.verify_and_decode_notification(body["signedPayload"])
    assert decoded.data is not None and decoded.data.appAppleId == 1234567890 and decoded.subtype is None
    assert production.verify_and_decode_signed_transaction(decoded.data.signedTransactionInfo or "").environment == (
        Environment.PRODUCTION
    )
    with pytest.raises(VerificationException):  # the sandbox notification is not for the production verifier
        production.verify_and_decode_notification(signer.notification("TEST")["signedPayload"])


def test_root_file_round_trips(signer: AppleSigner, tmp_path: Path) -> None:
    root = signer.write_root(tmp_path / "AppleRootCA-fake.cer")
    verifier = SignedDataVerifier([root.read_bytes()], False, Environment.SANDBOX, BUNDLE)
    assert verifier.verify_and_decode_signed_transaction(signer.sign(signer.transaction())).bundleId == BUNDLE
    assert signer.root_pem.startswith("-----BEGIN CERTIFICATE-----")


def test_verifier_rejects_untrusted_incomplete_and_tampered_payloads(signer: AppleSigner) -> None:
    verifier = sandbox_verifier(signer)
    with pytest.raises(VerificationException):  # signed by a chain with a different root
        verifier.verify_and_decode_signed_transaction(AppleSigner().sign(signer.transaction()))
    no_oid = AppleSigner(leaf_oid=False)
    with pytest.raises(VerificationException):  # trusted root, but the leaf lacks Apple's marker OID
        SignedDataVerifier([no_oid.root_der], False, Environment.SANDBOX, BUNDLE).verify_and_decode_signed_transaction(
            no_oid.sign(no_oid.transaction())
        )
    header, payload, signature = signer.sign(signer.transaction()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["expiresDate"] += 365 * 86_400_000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(VerificationException):
        verifier.verify_and_decode_signed_transaction(f"{header}.{forged}.{signature}")
    with pytest.raises(TypeError):  # a misspelt field fails loudly rather than producing a payload Apple never sends
        signer.transaction(expiryDate=1)


def test_verify_receipt_follows_apples_environment_rules() -> None:
    with fake_verify_receipt(shared_secret="s3cret") as fake, httpx.Client(timeout=5) as client:
        first = fake.receipt_info(purchase_date_ms=now_ms() - 40 * 86_400_000)
        renewal = fake.receipt_info(
            original_transaction_id=first["original_transaction_id"], purchase_date_ms=now_ms() - 86_400_000
        )
        fake.add_receipt("c2FuZGJveA==", environment="Sandbox", latest_receipt_info=[first, renewal])
        request = {"receipt-data": "c2FuZGJveA==", "password": "s3cret", "exclude-old-transactions": True}

        assert client.post(fake.production_url, json=request).json() == {"status": 21007}
        answer = client.post(fake.sandbox_url, json=request)
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == 0 and body["environment"] == "Sandbox"
        assert body["receipt"]["bundle_id"] == BUNDLE
        assert body["latest_receipt_info"] == [renewal]  # exclude-old-transactions keeps the latest renewal
        assert isinstance(renewal["expires_date_ms"], str) and renewal["is_trial_period"] == "false"
        assert body["pending_renewal_info"][0]["original_transaction_id"] == first["original_transaction_id"]
        assert [env for env, _ in fake.requests] == ["Production", "Sandbox"]

        fake.add_receipt("cHJvZA==", environment="Production", latest_receipt_info=[fake.receipt_info()])
        assert client.post(fake.sandbox_url, json={"receipt-data": "cHJvZA==", "password": "s3cret"}).json() == {
            "status": 21008
        }
        assert client.post(fake.sandbox_url, json={**request, "password": "wrong"}).json()["status"] == 21004
        assert client.post(fake.sandbox_url, json={**request, "receipt-data": "bm9wZQ=="}).json()["status"] == 21002

        fake.fail_next(21005)
        assert client.post(fake.sandbox_url, json=request).json() == {"status": 21005}
        fake.http_error_next(503)
        assert client.post(fake.sandbox_url, json=request).status_code == 503
        assert client.post(fake.sandbox_url, json=request).json()["status"] == 0


def _token(key: str | ec.EllipticCurvePrivateKey, fake: FakeAppStoreServerApi, **claims: object) -> str:
    payload = {"iss": fake.issuer_id, "aud": "appstoreconnect-v1", "bid": fake.bundle_id, **claims}
    payload.setdefault("iat", int(time.time()))
    payload.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": fake.key_id})


def test_server_api_answers_subscription_statuses_to_authenticated_calls(signer: AppleSigner) -> None:
    with fake_app_store_server_api(signer=signer) as fake, httpx.Client(base_url=fake.base_url, timeout=5) as client:
        tx = signer.transaction()
        fake.set_subscription(tx["originalTransactionId"], 1, tx, signer.renewal_info(tx))
        path = f"/inApps/v1/subscriptions/{tx['transactionId']}"
        auth = {"Authorization": f"Bearer {_token(fake.private_key_pem, fake)}"}

        answer = client.get(path, headers=auth)
        assert answer.status_code == 200
        body = answer.json()
        assert body["environment"] == "Sandbox" and body["bundleId"] == BUNDLE
        [item] = body["data"][0]["lastTransactions"]
        assert item["status"] == 1 and item["originalTransactionId"] == tx["originalTransactionId"]
        decoded = sandbox_verifier(signer).verify_and_decode_signed_transaction(item["signedTransactionInfo"])
        assert decoded.expiresDate == tx["expiresDate"]

        unknown = client.get("/inApps/v1/subscriptions/999", headers=auth)
        assert unknown.status_code == 404 and unknown.json()["errorCode"] == 4040010
        assert client.get(path).status_code == 401
        wrong_key = ec.generate_private_key(ec.SECP256R1())
        assert client.get(path, headers={"Authorization": f"Bearer {_token(wrong_key, fake)}"}).status_code == 401
        too_long = _token(fake.private_key_pem, fake, exp=int(time.time()) + 7200)
        assert client.get(path, headers={"Authorization": f"Bearer {too_long}"}).status_code == 401
        wrong_bundle = _token(fake.private_key_pem, fake, bid="com.example.other")
        assert client.get(path, headers={"Authorization": f"Bearer {wrong_bundle}"}).status_code == 401

        fake.fail_next(429)
        limited = client.get(path, headers=auth)
        assert limited.status_code == 429 and limited.json()["errorCode"] == 4290000
        assert int(limited.headers["Retry-After"]) > now_ms()  # Apple: a UNIX time in milliseconds
        fake.fail_next(500, times=2)
        assert [client.get(path, headers=auth).status_code for _ in range(3)] == [500, 500, 200]
