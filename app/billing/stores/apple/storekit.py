"""App Store: StoreKit 2 signed transactions and App Store Server Notifications V2, verified by Apple's own
`app-store-server-library` against the configured Apple root certificates, mapped onto our subscription states.

One verifier per environment: production (needs APPLE_APP_APPLE_ID) and sandbox (TestFlight, App Review; refused
when APPLE_ALLOW_SANDBOX is false). Xcode and local-testing data is not signed by Apple; it is accepted only with
APPLE_ALLOW_UNSIGNED, which staging and production refuse. The bundle id (and in production the app id) is checked by
the library.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec
from appstoreserverlibrary.models.AutoRenewStatus import AutoRenewStatus
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.InAppOwnershipType import InAppOwnershipType
from appstoreserverlibrary.models.JWSRenewalInfoDecodedPayload import JWSRenewalInfoDecodedPayload
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import JWSTransactionDecodedPayload
from appstoreserverlibrary.models.OfferDiscountType import OfferDiscountType
from appstoreserverlibrary.models.ResponseBodyV2DecodedPayload import ResponseBodyV2DecodedPayload
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.billing.products import parse_products, tier_of
from app.billing.schemas import Status
from app.billing.stores.apple import chains
from app.billing.stores.apple.decoding import UNSIGNED_ENVIRONMENTS, SingleParseVerifier
from app.billing.stores.purchase import (
    StoreEnvironment,
    StorePurchase,
    from_millis,
    mapped_product,
    store_status,
)
from app.core.errors import ServiceUnavailable, Unprocessable
from app.settings import Settings

log = logging.getLogger("cookcam.billing.apple")

T = TypeVar("T")


def load_root_certificates(paths: tuple[str, ...]) -> list[bytes]:
    """Apple's root certificates as DER, from DER (.cer) or PEM files."""
    roots = []
    for path in paths:
        data = Path(path).read_bytes()
        if data.lstrip().startswith(b"-----BEGIN"):
            data = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        roots.append(data)
    return roots


class AppStore:
    """Verifies App Store signed data; `configured` is false until Apple root certificates are set."""

    def __init__(self, settings: Settings) -> None:
        apple = settings.apple
        self._products = parse_products(settings.billing.products)
        self._verifiers: dict[Environment, SignedDataVerifier] = {}
        roots = load_root_certificates(apple.root_certificates)
        if roots:
            if apple.app_apple_id is not None:
                self._verifiers[Environment.PRODUCTION] = chains.install(
                    SingleParseVerifier(
                        roots, apple.online_checks, Environment.PRODUCTION, apple.bundle_id, apple.app_apple_id
                    ),
                    roots,
                )
            if apple.allow_sandbox:
                self._verifiers[Environment.SANDBOX] = chains.install(
                    SingleParseVerifier(roots, apple.online_checks, Environment.SANDBOX, apple.bundle_id), roots
                )
        if apple.allow_unsigned:  # its own opt-in: no environment, least of all a default one, implies it
            for environment in UNSIGNED_ENVIRONMENTS:
                self._verifiers[environment] = SignedDataVerifier([], False, environment, apple.bundle_id)
        self.configured = bool(roots)

    def _verifier_for(self, signed: str) -> SignedDataVerifier:
        """The verifier of the environment the data names (the verifier then checks that claim)."""
        claimed = _claimed_environment(signed)
        signed_by_apple = claimed in (Environment.PRODUCTION.value, Environment.SANDBOX.value)
        if signed_by_apple and not self.configured:
            raise ServiceUnavailable("APPLE_UNCONFIGURED", "App Store purchases are not configured on this server.")
        verifier = next((v for env, v in self._verifiers.items() if env.value == claimed), None)
        if verifier is None:
            raise Unprocessable(
                "APPLE_ENVIRONMENT_REFUSED", f"Purchases from the {claimed[:20]} environment are refused."
            )
        return verifier

    async def verify_transaction(self, signed_transaction: str) -> JWSTransactionDecodedPayload:
        verifier = self._verifier_for(signed_transaction)
        return await _verified_off_loop_if_costly(
            verifier, verifier.verify_and_decode_signed_transaction, signed_transaction
        )

    async def verify_renewal_info(self, signed_renewal_info: str) -> JWSRenewalInfoDecodedPayload:
        verifier = self._verifier_for(signed_renewal_info)
        return await _verified_off_loop_if_costly(
            verifier, verifier.verify_and_decode_renewal_info, signed_renewal_info
        )

    async def verify_notification(self, signed_payload: str) -> ResponseBodyV2DecodedPayload:
        """A V2 notification; its environment is in `data`, so each verifier is tried until one accepts it."""
        if not self.configured:
            raise ServiceUnavailable("APPLE_UNCONFIGURED", "App Store notifications are not configured on this server.")
        for environment, verifier in self._verifiers.items():
            if environment in UNSIGNED_ENVIRONMENTS:
                continue  # notifications always come signed from Apple's servers
            try:
                return await asyncio.to_thread(verifier.verify_and_decode_notification, signed_payload)
            except VerificationException:
                continue
        raise Unprocessable("APPLE_SIGNATURE_INVALID", "The notification's signature could not be verified.")

    def purchase(
        self,
        transaction: JWSTransactionDecodedPayload,
        renewal: JWSRenewalInfoDecodedPayload | None,
        *,
        now: datetime.datetime | None = None,
    ) -> StorePurchase:
        """Our view of a verified transaction (and its renewal info when Apple sent it)."""
        if not transaction.originalTransactionId or not transaction.productId or transaction.signedDate is None:
            raise Unprocessable("APPLE_TRANSACTION_INVALID", "The transaction is missing required fields.")
        tier, period = tier_of(mapped_product(transaction.productId, self._products))
        auto_renew_off = renewal is not None and renewal.autoRenewStatus == AutoRenewStatus.OFF
        return StorePurchase(
            provider="apple",
            identity=transaction.originalTransactionId,
            product_id=transaction.productId,
            tier_slug=tier,
            billing_period=period,
            status=apple_status(transaction, renewal, now or datetime.datetime.now(datetime.UTC)),
            environment=_environment(transaction.environment),
            family_shared=transaction.inAppOwnershipType == InAppOwnershipType.FAMILY_SHARED,
            current_period_start=from_millis(transaction.purchaseDate),
            current_period_end=from_millis(transaction.expiresDate),
            trial_ends_at=(
                from_millis(transaction.expiresDate)
                if transaction.offerDiscountType == OfferDiscountType.FREE_TRIAL
                else None
            ),
            cancel_at_period_end=auto_renew_off,
            observed_at=_latest(
                from_millis(transaction.signedDate), from_millis(renewal.signedDate) if renewal else None
            ),
            account_token=transaction.appAccountToken,
        )


def apple_status(
    transaction: JWSTransactionDecodedPayload,
    renewal: JWSRenewalInfoDecodedPayload | None,
    now: datetime.datetime,
) -> Status:
    """Derived from the signed data itself, whatever the notification type."""
    return store_status(
        revoked=transaction.revocationDate is not None,
        expires=from_millis(transaction.expiresDate),
        billing_retry=bool(renewal and renewal.isInBillingRetryPeriod),
        grace_until=from_millis(renewal.gracePeriodExpiresDate) if renewal else None,
        auto_renew_off=renewal is not None and renewal.autoRenewStatus == AutoRenewStatus.OFF,
        trial=transaction.offerDiscountType == OfferDiscountType.FREE_TRIAL,
        now=now,
    )


def _claimed_environment(signed: str) -> str:
    """The environment a JWS's payload names, unverified: read from the payload segment alone, since the library
    decodes and checks the whole JWS (its x5c header, a few kilobytes, costs most) when it verifies it."""
    segments = signed.split(".")
    try:
        if len(segments) != 3:
            raise ValueError(f"{len(segments)} segments")
        payload = base64.urlsafe_b64decode(segments[1] + "=" * (-len(segments[1]) % 4))
        claims = msgspec.json.decode(payload, type=dict[str, object])
    except (ValueError, msgspec.DecodeError):  # binascii.Error is a ValueError
        raise Unprocessable("APPLE_SIGNATURE_INVALID", "This is not App Store signed data.") from None
    return str(claims.get("environment"))


async def _verified_off_loop_if_costly(verifier: SignedDataVerifier, verify: Callable[[str], T], signed: str) -> T:
    """A chain's first verification is CPU work, and network calls with online checks: it runs in a thread, off
    the event loop. A chain verified before leaves the JWS signature only, cheaper than the thread's round trip."""
    if chains.verified_before(verifier, signed):
        return _verified(verify, signed)
    return await asyncio.to_thread(_verified, verify, signed)


def _verified(verify: Callable[[str], T], signed: str) -> T:
    """Run one library verification, turning its refusal into a 422 naming Apple's reason."""
    try:
        return verify(signed)
    except VerificationException as exc:
        log.info("App Store data refused: %s", exc.status.name)
        raise Unprocessable("APPLE_SIGNATURE_INVALID", f"App Store data refused ({exc.status.name}).") from None


def _environment(environment: Environment | None) -> StoreEnvironment:
    return "production" if environment == Environment.PRODUCTION else "sandbox"


def _latest(*moments: datetime.datetime | None) -> datetime.datetime:
    return max(m for m in moments if m is not None)
