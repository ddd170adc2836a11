"""Creators' payout accounts: Stripe Connect Express accounts, created once per creator, onboarded through Stripe's
hosted account links, and kept current by Connect webhooks (stored and processed once through the provider event
store, like payment webhooks) or, on request, by fetching the account from Stripe.

Account state is ordered by Stripe's own time: a webhook's `created`, or the moment a fetch was sent; older data
never overwrites newer (out-of-order deliveries cannot undo an account's progress).
"""

from __future__ import annotations

import datetime
import logging
import uuid

import msgspec
import stripe

from app.billing.redirects import require_allowed
from app.billing.stripe.client import require_stripe, stripe_call
from app.billing.stripe.models import Event, event_object
from app.creators.schemas import OnboardingLink, OnboardRequest, PayoutAccountStatus
from app.db.queries import payouts as q
from app.db.types import Connection, ConnectionSource
from app.realtime.events import RealtimeEvent, publish
from app.settings import Settings

log = logging.getLogger("cookcam.creators.payouts")

ACCOUNT_EVENT = "creator.payout_account"


class Requirements(msgspec.Struct, frozen=True):
    currently_due: list[str] | None = None
    past_due: list[str] | None = None
    disabled_reason: str | None = None


class ConnectAccount(msgspec.Struct, frozen=True):
    """The parts of Stripe's Account object we keep."""

    id: str
    charges_enabled: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    requirements: Requirements | None = None
    metadata: dict[str, str] = {}
    created: int | None = None

    @property
    def requirements_due(self) -> list[str]:
        due = (self.requirements.past_due or []) + (self.requirements.currently_due or []) if self.requirements else []
        return list(dict.fromkeys(due))


def _metadata_creator(account: ConnectAccount) -> uuid.UUID | None:
    try:
        return uuid.UUID(account.metadata["creator_id"])
    except (KeyError, ValueError):
        return None


async def record_account(
    conn: Connection,
    account: ConnectAccount,
    observed_at: datetime.datetime,
    *,
    creator_id: uuid.UUID | None = None,
) -> None:
    """Store what Stripe says about a connected account (unless we hold newer data) and tell the creator."""
    owner = (
        creator_id
        or await q.payout_account_creator(conn, stripe_account_id=account.id)
        # An event that overtook the onboarding request's own write: the account names its creator (set by us).
        or _metadata_creator(account)
    )
    if owner is None:
        log.warning("Connect account %s is not one of ours; not recorded", account.id)
        return
    reason = account.requirements.disabled_reason if account.requirements else None
    row = await q.record_payout_account(
        conn,
        creator_id=owner,
        stripe_account_id=account.id,
        charges_enabled=account.charges_enabled,
        payouts_enabled=account.payouts_enabled,
        details_submitted=account.details_submitted,
        requirements_due=account.requirements_due[:100],
        disabled_reason=reason[:200] if reason else None,
        provider_updated_at=observed_at,
    )
    if row is not None:
        await publish(conn, owner, RealtimeEvent(ACCOUNT_EVENT, {"payouts_enabled": row.payouts_enabled}))


async def apply_connect_event(conn: Connection, event: Event) -> None:
    """The effect of one Connect webhook event (run inside the event store's fenced transaction)."""
    if event.type == "account.updated":
        account = event_object(event, ConnectAccount)
        # Stripe objects carry no modification time; the event's creation time orders deliveries.
        await record_account(conn, account, datetime.datetime.fromtimestamp(event.created, datetime.UTC))
    else:
        log.info("Connect event %s (%s) stored; this type has no effect", event.id, event.type)


async def _create_account(
    connect: ConnectionSource, client: stripe.StripeClient, creator_id: uuid.UUID, email: str
) -> str:
    account = await stripe_call(
        client.v1.accounts.create_async(
            params={
                "type": "express",
                "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"creator_id": str(creator_id)},
            },
            # One account per creator even when onboarding requests race or are retried: Stripe replays the first.
            options={"idempotency_key": f"cookcam-connect-account-{creator_id}"},
        )
    )
    created = msgspec.convert(account.to_dict(), ConnectAccount)
    observed = datetime.datetime.fromtimestamp(created.created or 0, datetime.UTC)
    async with connect() as conn, conn.transaction():
        await record_account(conn, created, observed, creator_id=creator_id)
        stored = await q.get_payout_account(conn, creator_id=creator_id)
    return stored.stripe_account_id if stored is not None else created.id


async def onboard(
    connect: ConnectionSource,
    client: stripe.StripeClient | None,
    settings: Settings,
    request: OnboardRequest,
    *,
    creator_id: uuid.UUID,
    email: str,
) -> OnboardingLink:
    """A Stripe-hosted onboarding link for the creator's Express account, created first if there is none."""
    api = require_stripe(client)
    require_allowed("refresh_url", request.refresh_url, settings.billing.redirect_allowlist)
    require_allowed("return_url", request.return_url, settings.billing.redirect_allowlist)
    async with connect() as conn:
        stored = await q.get_payout_account(conn, creator_id=creator_id)
    if stored is not None:
        account_id = stored.stripe_account_id
    else:
        account_id = await _create_account(connect, api, creator_id, email)
    link = await stripe_call(
        api.v1.account_links.create_async(
            params={
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": request.refresh_url,
                "return_url": request.return_url,
            }
        )
    )
    return OnboardingLink(url=link.url, expires_at=datetime.datetime.fromtimestamp(link.expires_at, datetime.UTC))


async def account_status(
    connect: ConnectionSource, client: stripe.StripeClient | None, creator_id: uuid.UUID, *, refresh: bool
) -> PayoutAccountStatus:
    """The stored account (kept current by Connect webhooks); with `refresh`, fetched from Stripe and stored first."""
    async with connect() as conn:
        stored = await q.get_payout_account(conn, creator_id=creator_id)
    if stored is not None and refresh:
        api = require_stripe(client)
        sent_at = datetime.datetime.now(datetime.UTC)
        fetched = await stripe_call(api.v1.accounts.retrieve_async(stored.stripe_account_id))
        async with connect() as conn, conn.transaction():
            account = msgspec.convert(fetched.to_dict(), ConnectAccount)
            await record_account(conn, account, sent_at, creator_id=creator_id)
            stored = await q.get_payout_account(conn, creator_id=creator_id)
    if stored is None:
        return PayoutAccountStatus(
            connected=False,
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            requirements_due=[],
            disabled_reason=None,
            updated_at=None,
        )
    return PayoutAccountStatus(
        connected=True,
        charges_enabled=stored.charges_enabled,
        payouts_enabled=stored.payouts_enabled,
        details_submitted=stored.details_submitted,
        requirements_due=stored.requirements_due,
        disabled_reason=stored.disabled_reason,
        updated_at=stored.updated_at,
    )
