"""Payouts: a creator's available balance (earned and past its hold, less payouts pending or paid) sent to their
Express account as a Stripe transfer, never twice.

- Under a lock on the creator's row, in one transaction: the balance is computed and the payout inserted `pending`
  (so it counts against the balance at once); committed before Stripe is called, and no pooled connection is held
  while Stripe answers. At most one payout per creator is pending: a request while one is pending sends that one
  again (once its last attempt is a minute old) instead of starting another.
- The transfer's Idempotency-Key is the payout's id and its transfer_group names the payout, so every attempt (the
  request, the creator's retry, the retry job) asks for the same transfer: Stripe replays it within a day, and a
  later attempt first looks the transfer up by its group. A payout is `paid` when Stripe returns the transfer,
  `failed` only when Stripe refuses it outright (4xx: nothing moved, the amount is back in the balance), and stays
  `pending` when the outcome is unknown (timeouts, 5xx, 429, 409), to be sent again.
- A reversed transfer (`transfer.reversed`, a payment webhook) returns the reversed amount to the balance.
"""

from __future__ import annotations

import collections
import logging
import uuid

import msgspec
import stripe

from app.billing.stripe.client import require_stripe
from app.core.errors import AppError, Conflict, ServiceUnavailable, Unprocessable
from app.creators.schemas import Balance, Payout
from app.db.queries import payouts as q
from app.db.queries import users as users_q
from app.db.queries.rows import PayoutRecord  # what the payout queries return (`-- row: PayoutRecord`)
from app.db.types import Connection, ConnectionSource
from app.realtime.events import RealtimeEvent, publish

log = logging.getLogger("cookcam.creators.payouts")

CURRENCY = "usd"  # creator_earnings are in the tiers' currency, USD
# A payout attempt younger than this may still be in flight: it is not started again.
ATTEMPT_LEASE_SECONDS = 60.0
PAYOUT_EVENT = "creator.payout"


class PayoutFailed(AppError):
    status_code = 502


def _payout(row: PayoutRecord) -> Payout:
    return Payout(
        id=row.id,
        amount_cents=row.amount_cents,
        currency=row.currency,
        status=row.status,
        reversed_cents=row.reversed_cents,
        failure_code=row.failure_code,
        created_at=row.created_at,
        settled_at=row.settled_at,
    )


def transfer_group(payout_id: uuid.UUID) -> str:
    return f"cookcam-payout-{payout_id}"


async def _announce(conn: Connection, row: PayoutRecord) -> None:
    event = RealtimeEvent(PAYOUT_EVENT, {"payout_id": str(row.id), "status": row.status})
    await publish(conn, row.creator_id, event)


async def balance(conn: Connection, creator_id: uuid.UUID, minimum_payout_cents: int) -> Balance:
    totals = await q.creator_balance(conn, creator_id=creator_id)
    assert totals is not None  # an aggregate always has its row
    return Balance(
        # Only earnings past their hold; negative when an earning already paid out was reversed later (a refund
        # after the hold): later earnings offset it.
        available_cents=totals.earned_cents - totals.held_cents - totals.paid_out_cents - totals.pending_cents,
        earned_cents=totals.earned_cents,
        paid_out_cents=totals.paid_out_cents,
        pending_payout_cents=totals.pending_cents,
        currency=CURRENCY,
        minimum_payout_cents=minimum_payout_cents,
        pending_earnings_cents=totals.held_cents,
    )


async def _start(
    conn: Connection, creator_id: uuid.UUID, amount_cents: int | None, minimum_cents: int
) -> tuple[PayoutRecord, bool]:
    """Inside the creator's lock: the pending payout to send again, or a new one; and whether it is new."""
    pending = await q.pending_payout_of(conn, creator_id=creator_id)
    if pending is not None:
        claimed = await q.claim_payout_attempt(conn, id=pending, lease_seconds=ATTEMPT_LEASE_SECONDS)
        if claimed is None:
            raise Conflict(
                "PAYOUT_IN_PROGRESS",
                "A payout is being sent; its outcome arrives as a creator.payout event.",
                headers={"Retry-After": str(int(ATTEMPT_LEASE_SECONDS))},
            )
        return claimed, False
    account = await q.get_payout_account(conn, creator_id=creator_id)
    if account is None or not account.payouts_enabled:
        raise Conflict(
            "PAYOUT_ACCOUNT_NOT_READY", "Finish setting up payouts with Stripe first (stripe/onboard, stripe/status)."
        )
    available = (await balance(conn, creator_id, minimum_cents)).available_cents
    amount = available if amount_cents is None else amount_cents
    if amount < minimum_cents:
        raise Unprocessable(
            "PAYOUT_BELOW_MINIMUM", f"The smallest payout is {minimum_cents} cents; {max(amount, 0)} requested."
        )
    if amount > available:
        raise Unprocessable("INSUFFICIENT_BALANCE", f"{max(available, 0)} cents are available for a payout.")
    created = await q.insert_payout(
        conn,
        id=uuid.uuid4(),
        creator_id=creator_id,
        stripe_account_id=account.stripe_account_id,
        amount_cents=amount,
        currency=CURRENCY,
    )
    assert created is not None
    await _announce(conn, created)
    return created, True


async def request_payout(
    connect: ConnectionSource,
    client: stripe.StripeClient | None,
    creator_id: uuid.UUID,
    amount_cents: int | None,
    minimum_cents: int,
) -> Payout:
    """Pay out `amount_cents` (default: the whole available balance) to the creator's Express account."""
    api = require_stripe(client)
    async with connect() as conn, conn.transaction():
        await users_q.lock_user(conn, user_id=creator_id)  # one creator's payout requests, one at a time
        payout, new = await _start(conn, creator_id, amount_cents, minimum_cents)
    settled = await send(connect, api, payout, look_up_first=not new)
    if settled.status == "failed":
        raise PayoutFailed(
            "PAYOUT_FAILED", f"Stripe refused the payout ({settled.failure_code}); the amount is back in your balance."
        )
    if settled.status == "pending":
        raise ServiceUnavailable(
            "PAYOUT_PENDING",
            "The payout is recorded but Stripe has not confirmed it yet; it completes on its own.",
            retry_after_seconds=int(ATTEMPT_LEASE_SECONDS),
        )
    return _payout(settled)


def _definite_refusal(exc: stripe.StripeError) -> bool:
    """Stripe refused the request itself (4xx), so no transfer was made. Not: conflicts and rate limits (409, 429),
    an idempotency key reused with other parameters (our bug: needs a person), and no answer at all."""
    status = exc.http_status
    if isinstance(exc, stripe.IdempotencyError) or status is None:
        return False
    return 400 <= status < 500 and status not in (409, 429)


async def send(
    connect: ConnectionSource, client: stripe.StripeClient, payout: PayoutRecord, *, look_up_first: bool
) -> PayoutRecord:
    """One attempt at the payout's transfer, recorded; answers the payout as it stands afterwards."""
    group = transfer_group(payout.id)
    try:
        transfer = None
        if look_up_first:  # an earlier attempt may have made it (an idempotency key lasts only a day at Stripe)
            found = await client.v1.transfers.list_async(params={"transfer_group": group, "limit": 1})
            transfer = found.data[0] if found.data else None
        if transfer is None:
            transfer = await client.v1.transfers.create_async(
                params={
                    "amount": payout.amount_cents,
                    "currency": payout.currency,
                    "destination": payout.stripe_account_id,
                    "transfer_group": group,
                    "description": "CookCam creator payout",
                    "metadata": {"payout_id": str(payout.id), "creator_id": str(payout.creator_id)},
                },
                options={"idempotency_key": str(payout.id)},
            )
    except stripe.StripeError as exc:
        if not _definite_refusal(exc):
            level = logging.ERROR if isinstance(exc, stripe.IdempotencyError) else logging.WARNING
            log.log(level, "payout %s: outcome unknown (%s); left pending", payout.id, type(exc).__name__)
            return payout
        code = str(exc.code or type(exc).__name__)[:200]
        log.warning("payout %s refused by Stripe: %s", payout.id, code)
        async with connect() as conn, conn.transaction():
            failed = await q.mark_payout_failed(
                conn, id=payout.id, failure_code=code, failure_message=(exc.user_message or "")[:1000] or None
            )
            if failed is not None:
                await _announce(conn, failed)
                return failed
            current = await q.get_payout(conn, id=payout.id)
        return current if current is not None else payout
    return await _record_transfer(connect, payout, transfer.id, transfer.amount)


async def _record_transfer(
    connect: ConnectionSource, payout: PayoutRecord, transfer_id: str, amount: int
) -> PayoutRecord:
    async with connect() as conn, conn.transaction():
        paid = await q.mark_payout_paid(conn, id=payout.id, stripe_transfer_id=transfer_id, amount_cents=amount)
        if paid is not None:
            await _announce(conn, paid)
            return paid
        current = await q.get_payout(conn, id=payout.id)
    if current is None or current.status == "pending":  # an amount that does not match: never marked paid
        log.error("payout %s: transfer %s of %d cents does not match it", payout.id, transfer_id, amount)
        return payout
    return current


async def retry_pending_payouts(connect: ConnectionSource, client: stripe.StripeClient | None) -> str:
    """Send again every payout whose outcome is unknown and that nobody has tried for a minute (the retry job)."""
    async with connect() as conn:
        stale = await q.list_stale_pending_payouts(conn, lease_seconds=ATTEMPT_LEASE_SECONDS)
    if client is None:
        return f"{len(stale)} pending payout(s) not retried: Stripe is not configured"
    outcomes: collections.Counter[str] = collections.Counter()
    for payout_id in stale:
        async with connect() as conn:
            claimed = await q.claim_payout_attempt(conn, id=payout_id, lease_seconds=ATTEMPT_LEASE_SECONDS)
        if claimed is None:  # a request took it meanwhile
            outcomes["skipped"] += 1
            continue
        outcomes[(await send(connect, client, claimed, look_up_first=True)).status] += 1
    return (
        f"retried payouts: {outcomes['paid']} paid, {outcomes['failed']} failed, "
        f"{outcomes['pending']} still pending, {outcomes['skipped']} skipped"
    )


class Transfer(msgspec.Struct, frozen=True):
    id: str
    amount: int = 0
    amount_reversed: int = 0
    metadata: dict[str, str] = {}


async def apply_transfer_reversed(conn: Connection, transfer: Transfer, event_id: str) -> None:
    """A transfer was reversed (in part or in full): that much of its payout returns to the creator's balance."""
    try:
        payout_id: uuid.UUID | None = uuid.UUID(transfer.metadata["payout_id"])
    except (KeyError, ValueError):
        payout_id = await q.payout_of_transfer(conn, stripe_transfer_id=transfer.id)
    if payout_id is None:
        log.info("transfer %s is not a payout of ours; reversal ignored", transfer.id)
        return
    # A reversal proves the transfer was made, even if its payout is still waiting to hear so.
    paid = await q.mark_payout_paid(conn, id=payout_id, stripe_transfer_id=transfer.id, amount_cents=transfer.amount)
    if paid is not None:
        await _announce(conn, paid)
    reversed_row = await q.record_payout_reversal(
        conn,
        id=payout_id,
        stripe_transfer_id=transfer.id,
        amount_reversed=transfer.amount_reversed,
        reversed_by=event_id,
    )
    if reversed_row is not None:
        await _announce(conn, reversed_row)
