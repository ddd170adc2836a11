"""The payment providers' clients of one process (a worker or a job run), built once and closed with it."""

from __future__ import annotations

from dataclasses import dataclass

from app.billing.stripe_api import StripeApi
from app.settings import Settings


@dataclass
class PaymentProviders:
    stripe: StripeApi

    @classmethod
    def create(cls, settings: Settings) -> PaymentProviders:
        return cls(stripe=StripeApi(settings))

    async def close(self) -> None:
        await self.stripe.close()
