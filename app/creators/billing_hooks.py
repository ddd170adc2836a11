"""What creators ask billing to run (app/billing/hooks.py): the revenue share's context for every recorded
subscription state (its trigger, migration 0057, does the rest) and its reversal for voided orders, transfer
reversals of payouts, and the Connect endpoint's events. The web wiring and the job runner both use these, with the
creators' settings (the hold of earnings)."""

from __future__ import annotations

from app.billing.hooks import BillingHooks
from app.billing.stripe.models import Event, event_object
from app.creators.connect import apply_connect_event
from app.creators.payouts import Transfer, apply_transfer_reversed
from app.creators.revenue import CONTEXT_KEY, RevenueShare
from app.db.types import Connection
from app.settings import CreatorSettings


async def _transfer_reversed(conn: Connection, event: Event) -> None:
    await apply_transfer_reversed(conn, event_object(event, Transfer), event.id)


def billing_hooks(creators: CreatorSettings | None = None) -> BillingHooks:
    """The hooks, with `creators` (the documented defaults when not given, as in tests that do not configure them)."""
    share = RevenueShare.from_settings(creators or CreatorSettings())
    return BillingHooks(
        recording_context=((CONTEXT_KEY, share.context),),
        on_order_voided=(share.reverse_order,),
        on_stripe_event=(("transfer.reversed", _transfer_reversed),),
        on_connect_event=apply_connect_event,
    )
