"""What creators ask billing to run (app/billing/hooks.py): the revenue share on every recorded subscription state,
transfer reversals of payouts, and the Connect endpoint's events. The web wiring and the job runner both use these."""

from __future__ import annotations

import msgspec

from app.billing.hooks import BillingHooks
from app.billing.stripe.models import Event
from app.creators.connect import apply_connect_event
from app.creators.payouts import Transfer, apply_transfer_reversed
from app.creators.revenue import record_period
from app.db.types import Connection


async def _transfer_reversed(conn: Connection, event: Event) -> None:
    await apply_transfer_reversed(conn, msgspec.json.decode(event.data.object, type=Transfer), event.id)


def billing_hooks() -> BillingHooks:
    return BillingHooks(
        on_subscription_recorded=(record_period,),
        on_stripe_event=(("transfer.reversed", _transfer_reversed),),
        on_connect_event=apply_connect_event,
    )
