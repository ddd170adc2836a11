"""The App Store Server API's Get All Subscription Statuses, for reconciliation and refresh-status.

Authenticated as Apple specifies: an ES256 JWT signed with an In-App Purchase key (.p8), header kid = the key id,
claims iss (issuer id), aud "appstoreconnect-v1", bid (bundle id), iat and exp (at most an hour). The signed
transactions in the answer are verified by app/billing/apple.py like any other App Store data.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import msgspec

from app.billing.stores.apple.storekit import AppStore
from app.billing.stores.purchase import StoreEnvironment, StorePurchase
from app.core.errors import BadGateway, ServiceUnavailable, Unprocessable
from app.core.retry import call_with_retries, raise_for_transient
from app.settings import Settings

TOKEN_LIFETIME_SECONDS = 20 * 60
# A token is renewed this long before it expires, so one never expires in flight.
TOKEN_RENEW_MARGIN_SECONDS = 60


class LastTransaction(msgspec.Struct, frozen=True):
    originalTransactionId: str  # Apple's field names
    signedTransactionInfo: str
    signedRenewalInfo: str | None = None


class SubscriptionGroup(msgspec.Struct, frozen=True):
    lastTransactions: list[LastTransaction] = []


class StatusResponse(msgspec.Struct, frozen=True):
    data: list[SubscriptionGroup] = []


def apple_retry_after(value: str | None) -> float | None:
    """Seconds until the App Store Server API takes requests again: its Retry-After "contains a UNIX time, in
    milliseconds" (Identifying rate limits), not HTTP's delta-seconds."""
    if not value or not value.strip().isdigit():
        return None
    return max(0.0, int(value) / 1000 - time.time())


class AppStoreServerApi:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, app_store: AppStore) -> None:
        self._apple = settings.apple
        self._outbound = settings.outbound
        self._http = http
        self._app_store = app_store
        self._token: tuple[str, float] | None = None  # (JWT, expiry as time.time())

    @property
    def configured(self) -> bool:
        apple = self._apple
        return bool(apple.api_key_id and apple.api_issuer_id and apple.api_private_key_file)

    async def purchase(self, original_transaction_id: str, environment: StoreEnvironment) -> StorePurchase:
        """The subscription's current state, as Apple signs it now."""
        if not self.configured:
            raise ServiceUnavailable("APPLE_API_UNCONFIGURED", "The App Store Server API is not configured.")
        base = self._apple.api_base if environment == "production" else self._apple.sandbox_api_base
        url = f"{base}/inApps/v1/subscriptions/{original_transaction_id}"

        async def attempt() -> httpx.Response:
            headers = {"Authorization": f"Bearer {self._bearer()}"}
            return raise_for_transient(
                await self._http.get(url, headers=headers, timeout=self._outbound.timeout_seconds),
                retry_after=apple_retry_after,
            )

        response = await call_with_retries("The App Store", attempt, self._outbound)
        if response.status_code == 404:
            raise Unprocessable("APPLE_TRANSACTION_UNKNOWN", "The App Store does not know this transaction.")
        if response.status_code != 200:
            raise BadGateway("PAYMENT_PROVIDER_ERROR", f"The App Store API answered {response.status_code}.")
        statuses = msgspec.json.decode(response.content, type=StatusResponse)
        last = next(
            (
                t
                for group in statuses.data
                for t in group.lastTransactions
                if t.originalTransactionId == original_transaction_id
            ),
            None,
        )
        if last is None:
            raise Unprocessable("APPLE_TRANSACTION_UNKNOWN", "The App Store does not list this subscription.")
        transaction = await self._app_store.verify_transaction(last.signedTransactionInfo)
        renewal = await self._app_store.verify_renewal_info(last.signedRenewalInfo) if last.signedRenewalInfo else None
        return self._app_store.purchase(transaction, renewal)

    def _bearer(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - TOKEN_RENEW_MARGIN_SECONDS < now:
            assert self._apple.api_private_key_file is not None
            key = Path(self._apple.api_private_key_file).read_text()
            claims = {
                "iss": self._apple.api_issuer_id,
                "iat": int(now),
                "exp": int(now) + TOKEN_LIFETIME_SECONDS,
                "aud": "appstoreconnect-v1",
                "bid": self._apple.bundle_id,
            }
            token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": self._apple.api_key_id})
            self._token = (token, now + TOKEN_LIFETIME_SECONDS)
        return self._token[0]
