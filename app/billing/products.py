"""Store product ids mapped to tiers by server configuration (BILLING_PRODUCTS), never by what a client sends."""

from __future__ import annotations

from dataclasses import dataclass

from app.billing.schemas import BillingPeriod, Product, Tier, TierSlug


@dataclass(frozen=True)
class ProductMapping:
    product_id: str
    tier_slug: str
    billing_period: str


def parse_products(entries: tuple[str, ...]) -> dict[str, ProductMapping]:
    """`product_id=tier:period` entries (validated by settings) keyed by product id."""
    mappings = {}
    for entry in entries:
        product_id, _, target = entry.partition("=")
        tier_slug, _, period = target.partition(":")
        mappings[product_id] = ProductMapping(product_id, tier_slug, period)
    return mappings


def product_catalogue(mappings: dict[str, ProductMapping], tiers: list[Tier]) -> list[Product]:
    by_slug = {tier.slug: tier for tier in tiers}
    return [
        Product(
            product_id=m.product_id,
            tier_slug=m.tier_slug,
            billing_period=m.billing_period,
            price_cents=(
                by_slug[m.tier_slug].monthly_price_cents
                if m.billing_period == "monthly"
                else by_slug[m.tier_slug].yearly_price_cents
            ),
            currency=by_slug[m.tier_slug].currency,
        )
        for m in sorted(mappings.values(), key=lambda m: m.product_id)
    ]


def tier_of(mapping: ProductMapping) -> tuple[TierSlug, BillingPeriod]:
    tier: TierSlug = "creator" if mapping.tier_slug == "creator" else "regular"
    period: BillingPeriod = "yearly" if mapping.billing_period == "yearly" else "monthly"
    return tier, period
