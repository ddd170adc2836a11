"""What a provider's webhook or notification is answered with once its event is stored and processed."""

from __future__ import annotations

import msgspec

from app.billing.inbox.processing import EventOutcome


class WebhookReceipt(msgspec.Struct, frozen=True):
    received: bool
    outcome: EventOutcome
