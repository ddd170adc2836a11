"""App Store purchases end to end: StoreKit 2 signed transactions and V2 notifications signed by a certificate chain
generated here (with Apple's marker OIDs) and verified by Apple's own library, legacy receipts through a loopback
verifyReceipt fake."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from cryptography.exceptions import InvalidTag
from litestar.testing import AsyncTestClient

from app.billing.proofs import ProofCipher, read_proofs, reencrypt_proofs, seal
from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.server import create_app
from app.settings import AppleSettings, OutboundSettings
from tests.conftest import make_settings
from tests.fakes.apple import DAY_MS, AppleSigner, FakeVerifyReceipt, fake_verify_receipt, now_ms
from tests.support import bearer, sign_up

VALIDATE = "/api/v1/iap/validate-receipt"
NOTIFY = "/api/v1/iap/notifications/apple"
SHARED_SECRET = "apple-shared-secret-for-tests"
FAST_RETRIES = OutboundSettings(retry_attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture(scope="module")
def signer() -> AppleSigner:
    return AppleSigner()


@pytest.fixture
async def apple(
    signer: AppleSigner, database_url: str, tmp_path
) -> AsyncIterator[tuple[AsyncTestClient, FakeVerifyReceipt]]:
    root = signer.write_root(tmp_path / "AppleRootCA-test.cer")
    with fake_verify_receipt(shared_secret=SHARED_SECRET) as receipts:
        apple_settings = AppleSettings(
            root_certificates=(str(root),),
            shared_secret=SHARED_SECRET,
            verify_receipt_url=receipts.production_url,
            sandbox_verify_receipt_url=receipts.sandbox_url,
        )
        settings = msgspec.structs.replace(make_settings(database_url), apple=apple_settings, outbound=FAST_RETRIES)
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield client, receipts


async def _validate(client, auth: dict, **proof: str):
    return await client.post(VALIDATE, headers=bearer(auth), json={"platform": "ios", **proof})


async def _tier(client, auth: dict) -> str:
    return (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()["tier_slug"]


async def test_a_signed_trial_grants_its_tier_and_is_kept_encrypted(apple, signer, db: asyncpg.Connection) -> None:
    client, _ = apple
    auth = await sign_up(client)
    transaction = signer.transaction(offerDiscountType="FREE_TRIAL", productId="com.cookcam.creator.monthly")
    signed = signer.sign(transaction)
    response = await _validate(client, auth, signed_transaction=signed, product_id="com.cookcam.pro.monthly")
    assert response.status_code == 200, response.text
    body = response.json()
    # The verified product decides the tier, not the product id the client sent.
    assert (body["status"], body["tier"], body["environment"]) == ("trialing", "creator", "sandbox")
    assert body["expires_at"] is not None
    row = await db.fetchrow("select provider, provider_subscription_id, status from subscriptions")
    assert tuple(row) == ("apple", transaction["originalTransactionId"], "trialing")
    user_id = uuid.UUID(auth["user"]["id"])
    assert await read_proofs(db, ProofCipher(make_settings("").billing.receipt_keys), user_id) == [signed]
    assert signed.encode() not in (await db.fetchval("select ciphertext from purchase_proofs"))
    history = await db.fetchrow("select outcome, environment, server_environment, proof_kind from purchase_validations")
    assert tuple(history) == ("valid", "sandbox", "test", "signed_transaction")
    export = await client.get("/api/v1/auth/export", headers=bearer(auth))
    assert export.json()["purchase_validations"][0]["outcome"] == "valid"
    assert signed not in export.text
    assert transaction["originalTransactionId"] not in export.text


async def test_a_validation_that_fails_midway_leaves_nothing_half_written(apple, signer, db) -> None:
    """The subscription, its history, the revenue share's hook, the proof and the validation's row are one
    transaction: a database fault at the last write (a trigger this test adds) leaves none of them."""
    client, _ = apple
    auth = await sign_up(client)
    signed = signer.sign(signer.transaction())
    await db.execute(
        "create function test_refuse_validation() returns trigger language plpgsql as "
        "$$ begin raise exception 'validation history refused by the test'; end $$"
    )
    try:
        await db.execute(
            "create trigger test_refuse_validation before insert on purchase_validations for each row "
            "when (new.outcome = 'valid') execute function test_refuse_validation()"
        )
        failed = await _validate(client, auth, signed_transaction=signed)
    finally:
        await db.execute("drop function test_refuse_validation() cascade")
    assert failed.status_code == 500
    assert failed.json()["code"] == "INTERNAL_ERROR"
    assert await _written(db) == (0, 0, 0, 0)
    assert await _tier(client, auth) == "free"
    # The app's retry then records all of it once.
    assert (await _validate(client, auth, signed_transaction=signed)).status_code == 200
    assert await _written(db) == (1, 1, 1, 1)
    assert await _tier(client, auth) == "regular"


async def _written(db: asyncpg.Connection) -> tuple[int, ...]:
    """How many subscriptions, status history rows, proofs and validation rows are stored."""
    row = await db.fetchrow(
        "select (select count(*) from subscriptions), (select count(*) from subscription_status_history), "
        "(select count(*) from purchase_proofs), (select count(*) from purchase_validations)"
    )
    return tuple(row)


async def test_a_purchase_replayed_from_another_account_is_refused_and_flagged(apple, signer, db) -> None:
    client, _ = apple
    owner, thief = await sign_up(client), await sign_up(client)
    signed = signer.sign(signer.transaction())
    assert (await _validate(client, owner, signed_transaction=signed)).status_code == 200
    replay = await _validate(client, thief, signed_transaction=signed)
    assert replay.status_code == 409
    assert replay.json()["code"] == "SUBSCRIPTION_OWNED_ELSEWHERE"
    assert await _tier(client, thief) == "free"
    signals = await db.fetch("select signal, user_id::text from billing_fraud_signals order by signal")
    assert {(r["signal"], r["user_id"]) for r in signals} == {
        ("proof_owned_elsewhere", thief["user"]["id"]),
        ("repeated_proof", thief["user"]["id"]),
        ("repeated_proof", owner["user"]["id"]),
    }


async def test_a_purchase_the_app_bound_to_another_account_is_refused(apple, signer, db) -> None:
    client, _ = apple
    auth, other = await sign_up(client), await sign_up(client)
    mine = signer.sign(signer.transaction(appAccountToken=auth["user"]["id"]))
    assert (await _validate(client, auth, signed_transaction=mine)).status_code == 200
    theirs = signer.sign(signer.transaction(appAccountToken=other["user"]["id"]))
    refused = await _validate(client, auth, signed_transaction=theirs)
    assert refused.status_code == 409
    assert refused.json()["code"] == "PURCHASE_ACCOUNT_MISMATCH"
    assert await db.fetchval("select kind from billing_security_events") == "account_token_mismatch"


@pytest.mark.parametrize(
    ("make_signed", "code"),
    [
        (lambda s: AppleSigner().sign(s.transaction()), "APPLE_SIGNATURE_INVALID"),  # another root
        (lambda s: AppleSigner(leaf_oid=False).sign(s.transaction()), "APPLE_SIGNATURE_INVALID"),
        (lambda s: s.sign(s.transaction())[:-8] + "AAAAAAAA", "APPLE_SIGNATURE_INVALID"),  # tampered
        (lambda s: s.sign(s.transaction(bundleId="com.example.other")), "APPLE_SIGNATURE_INVALID"),
        (lambda s: s.sign(s.transaction(productId="com.cookcam.coins.100")), "PRODUCT_UNKNOWN"),
        (lambda s: s.sign(s.transaction(environment="Production")), "APPLE_ENVIRONMENT_REFUSED"),  # no app id set
        (lambda s: s.sign(s.transaction(environment="Xcode")), "APPLE_ENVIRONMENT_REFUSED"),  # not development
        (lambda s: "not.a.jws", "APPLE_SIGNATURE_INVALID"),
        # Signed, but a time no date can hold (year 146 million): refused, not a 500.
        (lambda s: s.sign(s.transaction(expiresDate=2**62)), "STORE_TIME_INVALID"),
    ],
)
async def test_unverifiable_or_foreign_transactions_are_refused(apple, signer, db, make_signed, code) -> None:
    client, _ = apple
    auth = await sign_up(client)
    response = await _validate(client, auth, signed_transaction=make_signed(signer))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert await db.fetchval("select count(*) from subscriptions") == 0
    assert await db.fetchval("select outcome || ':' || error_code from purchase_validations") == f"invalid:{code}"


async def test_an_expired_transaction_grants_nothing(apple, signer) -> None:
    client, _ = apple
    auth = await sign_up(client)
    expired = signer.transaction(purchaseDate=now_ms() - 40 * DAY_MS, expiresDate=now_ms() - 10 * DAY_MS)
    body = (await _validate(client, auth, signed_transaction=signer.sign(expired))).json()
    assert (body["status"], body["tier"]) == ("expired", "free")


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "ios"},
        {"platform": "ios", "receipt": "abc", "signed_transaction": "x.y.z"},
        {"platform": "ios", "purchase_token": "tok"},
        {"platform": "android", "signed_transaction": "x.y.z"},
    ],
)
async def test_the_proof_must_fit_the_platform(apple, body) -> None:
    client, _ = apple
    auth = await sign_up(client)
    response = await client.post(VALIDATE, headers=bearer(auth), json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "PROOF_REQUIRED"


async def test_validation_needs_a_signed_in_caller_and_a_well_formed_body(apple) -> None:
    client, _ = apple
    assert (await client.post(VALIDATE, json={"platform": "ios", "receipt": "x"})).status_code == 401
    auth = await sign_up(client)
    unknown = await client.post(VALIDATE, headers=bearer(auth), json={"platform": "ios", "tier": "creator"})
    assert unknown.status_code in (400, 422)
    assert "tier" in unknown.text
    wrong_platform = await client.post(VALIDATE, headers=bearer(auth), json={"platform": "web", "receipt": "x"})
    assert wrong_platform.status_code in (400, 422)


async def test_apple_unconfigured_answers_503(client) -> None:
    auth = await sign_up(client)
    signer = AppleSigner()
    response = await _validate(client, auth, signed_transaction=signer.sign(signer.transaction()))
    assert response.status_code == 503
    assert response.json()["code"] == "APPLE_UNCONFIGURED"
    legacy = await _validate(client, auth, receipt="MIIT...")
    assert legacy.json()["code"] == "APPLE_UNCONFIGURED"


async def test_the_alias_path_validates_the_same_way(apple, signer) -> None:
    client, _ = apple
    auth = await sign_up(client)
    response = await client.post(
        "/api/v1/subscription/validate-purchase",
        headers=bearer(auth),
        json={"platform": "ios", "signed_transaction": signer.sign(signer.transaction())},
    )
    assert response.status_code == 200
    assert response.json()["tier"] == "regular"


# --- notifications ---------------------------------------------------------------------------------------------


async def _notify(client, body: dict):
    return await client.post(NOTIFY, json=body)


async def test_the_subscription_lifecycle_follows_signed_notifications(apple, signer, db: asyncpg.Connection) -> None:
    client, _ = apple
    auth = await sign_up(client)
    start = now_ms()
    first = signer.transaction(purchaseDate=start, expiresDate=start + 3 * DAY_MS, offerDiscountType="FREE_TRIAL")
    original = first["originalTransactionId"]
    assert (await _validate(client, auth, signed_transaction=signer.sign(first))).json()["status"] == "trialing"

    def renewal(**changes: object) -> dict:
        return signer.renewal_info(first, **changes)

    def next_transaction(**changes: object) -> dict:
        base = {"originalTransactionId": original, "purchaseDate": start + 3 * DAY_MS}
        return signer.transaction(**{**base, "expiresDate": start + 33 * DAY_MS, **changes})

    steps = [
        (("DID_RENEW", None), next_transaction(), renewal(), "active", "regular"),
        (
            ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"),
            next_transaction(expiresDate=now_ms() - 1000),
            renewal(isInBillingRetryPeriod=True, gracePeriodExpiresDate=now_ms() + 6 * DAY_MS),
            "grace_period",
            "regular",
        ),
        (
            ("GRACE_PERIOD_EXPIRED", None),
            next_transaction(expiresDate=now_ms() - 1000),
            renewal(isInBillingRetryPeriod=True, gracePeriodExpiresDate=now_ms() - 1000),
            "billing_retry",
            "free",
        ),
        (("DID_RENEW", "BILLING_RECOVERY"), next_transaction(), renewal(), "active", "regular"),
        (
            ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"),
            next_transaction(),
            renewal(autoRenewStatus=0),
            "cancelled",
            "regular",
        ),
        (
            ("DID_CHANGE_RENEWAL_PREF", "UPGRADE"),
            next_transaction(productId="com.cookcam.creator.monthly"),
            renewal(productId="com.cookcam.creator.monthly", autoRenewProductId="com.cookcam.creator.monthly"),
            "active",
            "creator",
        ),
        (
            ("REFUND", None),
            next_transaction(productId="com.cookcam.creator.monthly", revocationDate=now_ms(), revocationReason=0),
            renewal(),
            "revoked",
            "free",
        ),
    ]
    for (kind, subtype), transaction, renewal_info, status, tier in steps:
        body = signer.notification(kind, subtype, transaction=transaction, renewal_info=renewal_info)
        response = await _notify(client, body)
        assert response.status_code == 200, (kind, response.text)
        assert response.json()["outcome"] == "processed"
        assert await db.fetchval("select status from subscriptions") == status, kind
        assert await _tier(client, auth) == tier, kind
    history = await db.fetch("select to_status, cause_kind from subscription_status_history order by id")
    assert [r["to_status"] for r in history] == [
        "trialing",
        "active",
        "grace_period",
        "billing_retry",
        "active",
        "cancelled",
        "active",
        "revoked",
    ]
    assert {r["cause_kind"] for r in history[1:]} == {"apple_notification"}


async def test_notifications_are_processed_once_and_forgeries_are_not_stored(apple, signer, db) -> None:
    client, _ = apple
    auth = await sign_up(client)
    transaction = signer.transaction(appAccountToken=auth["user"]["id"])
    body = signer.notification("SUBSCRIBED", "INITIAL_BUY", transaction=transaction, renewal_info=None)
    assert (await _notify(client, body)).json()["outcome"] == "processed"
    assert (await _notify(client, body)).json()["outcome"] == "duplicate"
    # Not validated by the app first: the appAccountToken the app set bound it to the account.
    assert await _tier(client, auth) == "regular"

    forged = AppleSigner().notification("REFUND", transaction=transaction)
    assert (await _notify(client, forged)).status_code == 422
    assert (await _notify(client, {"signedPayload": 42})).status_code == 400
    assert await db.fetchval("select count(*) from provider_events") == 1


async def test_a_notification_for_a_purchase_nobody_claimed_is_stored_without_effect(apple, signer, db) -> None:
    client, _ = apple
    body = signer.notification("SUBSCRIBED", "INITIAL_BUY", transaction=signer.transaction())
    assert (await _notify(client, body)).json()["outcome"] == "processed"
    assert await db.fetchval("select count(*) from subscriptions") == 0
    test = signer.notification("TEST")
    assert (await _notify(client, test)).json()["outcome"] == "processed"


# --- legacy receipts -------------------------------------------------------------------------------------------


def _receipt(receipts: FakeVerifyReceipt, environment: str = "Sandbox", **info: str) -> tuple[str, str]:
    data = f"receipt-{uuid.uuid4().hex}"
    entry = receipts.receipt_info(product_id="com.cookcam.pro.yearly", **info)
    receipts.add_receipt(data, environment=environment, latest_receipt_info=[entry])
    return data, entry["original_transaction_id"]


async def test_a_sandbox_receipt_is_retried_in_the_sandbox(apple, db: asyncpg.Connection) -> None:
    client, receipts = apple
    auth = await sign_up(client)
    data, original = _receipt(receipts)
    response = await _validate(client, auth, receipt=data)
    assert response.status_code == 200, response.text
    assert (response.json()["tier"], response.json()["environment"]) == ("regular", "sandbox")
    assert [environment for environment, _ in receipts.requests] == ["Production", "Sandbox"]
    assert receipts.requests[0][1]["password"] == SHARED_SECRET
    assert await db.fetchval("select billing_period from subscriptions") == "yearly"
    assert await db.fetchval("select provider_subscription_id from subscriptions") == original


async def test_receipt_statuses_are_classed_permanent_or_transient(apple) -> None:
    client, receipts = apple
    auth = await sign_up(client)
    unknown = await _validate(client, auth, receipt="garbage")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "RECEIPT_INVALID")

    data, _ = _receipt(receipts, environment="Production")
    receipts.fail_next(21005, times=2)  # "receipt server unavailable" twice, then fine
    assert (await _validate(client, auth, receipt=data)).status_code == 200

    receipts.http_error_next(503, times=10)
    down = await _validate(client, auth, receipt=data)
    assert down.status_code == 503
    assert down.json()["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(down.headers["retry-after"]) > 0


async def test_a_wrong_shared_secret_is_our_problem_not_the_users(apple, database_url, tmp_path, signer) -> None:
    _, receipts = apple
    data, _ = _receipt(receipts, environment="Production")
    settings = make_settings(database_url)
    wrong = AppleSettings(shared_secret="not-the-secret", verify_receipt_url=receipts.production_url)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, apple=wrong))) as client:
        auth = await sign_up(client)
        response = await _validate(client, auth, receipt=data)
    assert (response.status_code, response.json()["code"]) == (502, "PAYMENT_PROVIDER_ERROR")


async def test_a_notification_left_unfinished_is_recovered_by_the_retry_job(signer, database_url, tmp_path, db) -> None:
    """A worker died after storing the notification: the retry job verifies the stored body again and applies it."""
    user_id = (
        await db.fetchrow(
            "insert into users (email, password_hash, name) values ($1, 'x', 'Cook') returning id",
            f"{uuid.uuid4()}@t.io",
        )
    )["id"]
    body = signer.notification(
        "SUBSCRIBED", "INITIAL_BUY", transaction=signer.transaction(appAccountToken=str(user_id))
    )
    await db.execute(
        "insert into provider_events (provider, event_id, event_type, status, attempts, payload, claimed_until)"
        " values ('apple', 'n-1', 'SUBSCRIBED', 'processing', 1, $1, now() - interval '1 minute')",
        body,
    )
    root = signer.write_root(tmp_path / "root.cer")
    settings = msgspec.structs.replace(make_settings(database_url), apple=AppleSettings(root_certificates=(str(root),)))
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        assert "1 recovered" in await run_locked("retry-events", pool, settings, payments)
    finally:
        await payments.close()
        await pool.close()
    assert await db.fetchval("select status from subscriptions where user_id = $1", user_id) == "active"


async def test_xcode_transactions_are_accepted_only_with_their_own_opt_in(database_url) -> None:
    """StoreKit testing in Xcode signs with a local key, not Apple's: anyone can forge it, so development alone does
    not accept it; APPLE_ALLOW_UNSIGNED does (and staging and production refuse that setting: tests/unit)."""
    local = AppleSigner()  # stands in for Xcode's own certificate; nothing trusts it
    signed = local.sign(local.transaction(environment="Xcode"))
    development = msgspec.structs.replace(make_settings(database_url), app_env="development")
    async with AsyncTestClient(app=create_app(development)) as client:
        refused = await _validate(client, await sign_up(client), signed_transaction=signed)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "APPLE_ENVIRONMENT_REFUSED"
    opted_in = msgspec.structs.replace(
        development, apple=msgspec.structs.replace(development.apple, allow_unsigned=True)
    )
    async with AsyncTestClient(app=create_app(opted_in)) as client:
        response = await _validate(client, await sign_up(client), signed_transaction=signed)
    assert response.status_code == 200, response.text
    assert (response.json()["tier"], response.json()["environment"]) == ("regular", "sandbox")


async def test_proofs_are_re_encrypted_under_a_new_key(db: asyncpg.Connection) -> None:
    """Key rotation: the new key first, the old one still listed; re-encryption lets the old one be retired."""
    user_id = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id", f"{uuid.uuid4()}@t.io"
    )
    old_key, new_key = "old:" + "A" * 43 + "=", "new:" + "B" * 43 + "="
    sealed = seal(ProofCipher((old_key,)), user_id, provider="apple", proof_kind="receipt", raw="MIIT-receipt")
    await db.execute(
        "insert into purchase_proofs (user_id, provider, proof_kind, raw_sha256, key_id, nonce, ciphertext)"
        " values ($1, 'apple', 'receipt', $2, $3, $4, $5)",
        user_id,
        sealed["raw_sha256"],
        sealed["key_id"],
        sealed["nonce"],
        sealed["ciphertext"],
    )
    rotated = ProofCipher((new_key, old_key))
    assert await reencrypt_proofs(db, rotated) == 1
    assert await db.fetchval("select key_id from purchase_proofs") == "new"
    assert await read_proofs(db, ProofCipher((new_key,)), user_id) == ["MIIT-receipt"]
    # A ciphertext moved to another account's row does not decrypt: the row's owner is authenticated data.
    other = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id", f"{uuid.uuid4()}@t.io"
    )
    await db.execute("update purchase_proofs set user_id = $1", other)
    with pytest.raises(InvalidTag):
        await read_proofs(db, ProofCipher((new_key,)), other)


# --- the ordering rule (docs/payments.md) and answers from the stored state ------------------------------------


def _signed_at(
    signer: AppleSigner, moment: int, base: dict[str, Any], transaction: dict[str, Any], renewal: dict[str, Any]
) -> dict[str, Any]:
    """A transaction of `base`'s subscription and its renewal info (with these changes), both signed at `moment`:
    the keyword arguments of `signer.notification`."""
    signed_transaction = signer.transaction(**{"originalTransactionId": base["originalTransactionId"], **transaction})
    signed_transaction["signedDate"] = moment
    return {
        "transaction": signed_transaction,
        "renewal_info": signer.renewal_info(signed_transaction, **{"signedDate": moment, **renewal}),
    }


# Notification type: (transaction changes, renewal info changes, our status); "now" and "past" are resolved late.
ENDINGS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "REFUND": ({"revocationDate": "now", "revocationReason": 0}, {}, "revoked"),
    "REVOKE": ({"revocationDate": "now", "revocationReason": 0, "inAppOwnershipType": "FAMILY_SHARED"}, {}, "revoked"),
    "EXPIRED": ({"expiresDate": "past"}, {"autoRenewStatus": 0, "expirationIntent": 1}, "expired"),
}
RUNNING: dict[tuple[str, str | None], tuple[dict[str, Any], dict[str, Any]]] = {
    ("DID_RENEW", None): ({}, {}),
    ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"): ({}, {"autoRenewStatus": 0}),
    ("SUBSCRIBED", "RESUBSCRIBE"): ({}, {}),
}


def _resolved(changes: dict[str, Any]) -> dict[str, Any]:
    moments = {"now": now_ms(), "past": now_ms() - 1000}
    return {key: moments.get(value, value) if isinstance(value, str) else value for key, value in changes.items()}


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("running", list(RUNNING), ids=lambda r: ".".join(filter(None, r)))
@pytest.mark.parametrize("ending_first", [False, True], ids=["ending-last", "ending-first"])
async def test_an_ending_wins_against_a_notification_signed_at_the_same_moment(
    apple: tuple[AsyncTestClient[Any], FakeVerifyReceipt],
    signer: AppleSigner,
    db: asyncpg.Connection,
    ending: str,
    running: tuple[str, str | None],
    ending_first: bool,
) -> None:
    client, _ = apple
    auth = await sign_up(client)
    first = signer.transaction()
    assert (await _validate(client, auth, signed_transaction=signer.sign(first))).status_code == 200
    moment = now_ms() + 1000  # one signedDate for both, later than the validated transaction's
    ending_transaction, ending_renewal, ending_status = ENDINGS[ending]
    ended = signer.notification(
        ending, **_signed_at(signer, moment, first, _resolved(ending_transaction), _resolved(ending_renewal))
    )
    kept = signer.notification(*running, **_signed_at(signer, moment, first, *RUNNING[running]))
    for body in (ended, kept) if ending_first else (kept, ended):
        response = await _notify(client, body)
        assert response.status_code == 200, response.text
    assert await db.fetchval("select status from subscriptions") == ending_status
    assert await _tier(client, auth) == "free"


async def test_an_expired_app_store_subscription_runs_again_when_resubscribed(
    apple: tuple[AsyncTestClient[Any], FakeVerifyReceipt],
    signer: AppleSigner,
    db: asyncpg.Connection,
) -> None:
    """Apple keeps the originalTransactionId when a customer resubscribes: an App Store ending is not final."""
    client, _ = apple
    auth = await sign_up(client)
    first = signer.transaction()
    assert (await _validate(client, auth, signed_transaction=signer.sign(first))).status_code == 200
    moment = now_ms() + 1000
    expired = _signed_at(signer, moment, first, {"expiresDate": now_ms() - 1000}, {"autoRenewStatus": 0})
    assert (await _notify(client, signer.notification("EXPIRED", "VOLUNTARY", **expired))).status_code == 200
    assert await _tier(client, auth) == "free"
    body = signer.notification("SUBSCRIBED", "RESUBSCRIBE", **_signed_at(signer, moment + 1, first, {}, {}))
    assert (await _notify(client, body)).status_code == 200
    assert (await db.fetchval("select status from subscriptions"), await _tier(client, auth)) == ("active", "regular")


async def test_a_signed_transaction_older_than_its_refund_answers_revoked(
    apple: tuple[AsyncTestClient[Any], FakeVerifyReceipt],
    signer: AppleSigner,
    db: asyncpg.Connection,
) -> None:
    client, _ = apple
    auth = await sign_up(client)
    bought = signer.transaction()
    signed = signer.sign(bought)
    assert (await _validate(client, auth, signed_transaction=signed)).json()["status"] == "active"
    refunded = {"transactionId": bought["transactionId"], "revocationDate": now_ms(), "revocationReason": 0}
    refund = signer.notification("REFUND", **_signed_at(signer, now_ms() + 1000, bought, refunded, {}))
    assert (await _notify(client, refund)).status_code == 200
    # The app still holds the transaction as it was signed at purchase, before the refund.
    again = await _validate(client, auth, signed_transaction=signed)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["tier"]) == ("revoked", "free")
    outcomes = await db.fetch("select outcome from purchase_validations order by created_at")
    assert [row["outcome"] for row in outcomes] == ["valid", "revoked"]
    alias = await client.post(
        "/api/v1/subscription/validate-purchase",
        headers=bearer(auth),
        json={"platform": "ios", "signed_transaction": signed},
    )
    assert (alias.json()["status"], alias.json()["tier"]) == ("revoked", "free")


async def test_a_legacy_receipt_of_a_refunded_purchase_answers_revoked(
    apple: tuple[AsyncTestClient[Any], FakeVerifyReceipt],
    signer: AppleSigner,
    db: asyncpg.Connection,
) -> None:
    client, receipts = apple
    auth = await sign_up(client)
    start = now_ms() - 70 * DAY_MS
    first = receipts.receipt_info(product_id="com.cookcam.pro.yearly", purchase_date_ms=start)
    original = first["original_transaction_id"]
    # The first period's transaction is refunded: Apple keeps it in the receipt with its cancellation date, and
    # with exclude-old-transactions answers only the latest one, the second period's, which simply expired.
    first["cancellation_date_ms"], first["cancellation_reason"] = str(now_ms()), "0"
    second = receipts.receipt_info(
        product_id="com.cookcam.pro.yearly", original_transaction_id=original, purchase_date_ms=start + 30 * DAY_MS
    )
    data = f"receipt-{uuid.uuid4().hex}"
    receipts.add_receipt(data, environment="Sandbox", latest_receipt_info=[first, second])
    # Apple's REFUND notification names the refunded transaction, with its revocationDate.
    refunded = signer.transaction(
        originalTransactionId=original,
        transactionId=first["transaction_id"],
        productId="com.cookcam.pro.yearly",
        purchaseDate=start,
        expiresDate=start + 30 * DAY_MS,
        revocationDate=now_ms(),
        revocationReason=0,
        appAccountToken=auth["user"]["id"],
    )
    assert (await _notify(client, signer.notification("REFUND", transaction=refunded))).status_code == 200
    answer = await _validate(client, auth, receipt=data)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["tier"]) == ("revoked", "free")
    assert await db.fetchval("select status from subscriptions") == "revoked"
