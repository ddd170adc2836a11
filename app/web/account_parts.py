"""Each domain's share of an account, in the order its sections appear in the export (app/account/registry.py)."""

from __future__ import annotations

import functools

import stripe

from app.account.registry import AccountPart, AccountParts
from app.analytics import account as analytics
from app.auth import account as auth
from app.billing import account as billing
from app.creators import account as creators
from app.gamification import account as gamification
from app.live import account as live
from app.live.service import account_closing
from app.recipes import account as recipes
from app.scan import account as scan
from app.users import account as users


def account_parts(stripe_client: stripe.StripeClient | None) -> AccountParts:
    return AccountParts(
        (
            AccountPart("auth", export=auth.export_section),
            AccountPart("social", export=users.export_section),
            AccountPart(
                "billing",
                export=billing.export_section,
                close=functools.partial(billing.close_billing, stripe_client),
                erase=billing.erase_billing,
            ),
            AccountPart("scan", export=scan.export_section),
            AccountPart("analytics", export=analytics.export_section),
            AccountPart("recipes", export=recipes.export_section),
            AccountPart("gamification", export=gamification.export_section),
            AccountPart("live", export=live.export_section, erase=account_closing),
            AccountPart("creators", export=creators.export_section),
        )
    )
