"""The payment providers' clients of one process (a worker or a job run), built once and closed with it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from app.billing.hooks import BillingHooks
from app.billing.proofs import ProofCipher
from app.billing.stores.apple.receipts import ReceiptVerifier
from app.billing.stores.apple.server_api import AppStoreServerApi
from app.billing.stores.apple.storekit import AppStore
from app.billing.stores.google.play_api import GooglePlay
from app.billing.stores.google.push import PushAuthenticator
from app.billing.stripe.client import StripeApi
from app.core.http import create_http_client
from app.db.types import ConnectionSource
from app.settings import Settings


@dataclass
class PaymentProviders:
    stripe: StripeApi
    app_store: AppStore
    app_store_api: AppStoreServerApi
    receipts: ReceiptVerifier
    google: GooglePlay
    google_push: PushAuthenticator
    proof_cipher: ProofCipher
    # Apple's and Google's calls share one pooled client (Stripe's library keeps its own).
    http: httpx.AsyncClient
    # What other domains registered to run on billing's changes (app/billing/hooks.py).
    hooks: BillingHooks

    @classmethod
    def create(cls, settings: Settings, hooks: BillingHooks) -> PaymentProviders:
        http = create_http_client()
        app_store = AppStore(settings)
        return cls(
            stripe=StripeApi(settings),
            app_store=app_store,
            app_store_api=AppStoreServerApi(settings, http, app_store),
            receipts=ReceiptVerifier(settings, http),
            google=GooglePlay(settings, http),
            google_push=PushAuthenticator(settings.google, settings.outbound, http),
            proof_cipher=ProofCipher(settings.billing.receipt_keys),
            http=http,
            hooks=hooks,
        )

    async def close(self) -> None:
        await self.stripe.close()
        await self.http.aclose()


@dataclass(frozen=True)
class Billing:
    """What the routes that talk to a provider use: connections borrowed around statements, the provider clients
    (with billing's hooks) and the settings. One per worker, resolved as one dependency (app/web/services.py)."""

    connect: ConnectionSource
    payments: PaymentProviders
    settings: Settings
