"""Creators' share of an account's export: affiliate links, the revenue-share ledger (earnings and reversals; no
referred accounts), payouts (no Stripe ids, no provider messages) and the payout account's flags."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import creators as q
from app.db.queries import payouts as payouts_q
from app.db.types import Connection


class CreatorSection(msgspec.Struct, frozen=True):
    affiliate_links: list[q.ExportAffiliateLinksRow]
    creator_earnings: list[q.ExportCreatorEarningsRow]
    creator_payouts: list[payouts_q.ExportCreatorPayoutsRow]
    payout_account: payouts_q.ExportPayoutAccountRow | None


async def export_section(conn: Connection, user_id: uuid.UUID) -> CreatorSection:
    return CreatorSection(
        affiliate_links=await q.export_affiliate_links(conn, creator_id=user_id),
        creator_earnings=await q.export_creator_earnings(conn, creator_id=user_id),
        creator_payouts=await payouts_q.export_creator_payouts(conn, creator_id=user_id),
        payout_account=await payouts_q.export_payout_account(conn, creator_id=user_id),
    )
