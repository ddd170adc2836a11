"""Affiliate links: codes from a CSPRNG, optional custom slugs, de-duplicated click tracking, and attribution of a
new account to the link it arrived through (the first valid attribution wins; nobody refers themselves)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import secrets
import uuid

from app.core.errors import Conflict, Forbidden, Unprocessable
from app.creators.schemas import AffiliateLink, TrackedClick
from app.db.queries import creators as q
from app.db.queries import users as users_q
from app.db.types import Connection
from app.settings import Settings

# Crockford's base32 in lower case (no i, l, o, u: nothing to misread); 12 characters carry 60 bits.
CODE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
CODE_LENGTH = 12
RESERVED_SLUGS = frozenset({"admin", "api", "app", "cookcam", "help", "support", "www", "staff", "official"})


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def create_link(
    conn: Connection, settings: Settings, creator_id: uuid.UUID, custom_slug: str | None
) -> AffiliateLink:
    slug = custom_slug.lower() if custom_slug else None
    if slug in RESERVED_SLUGS:
        raise Unprocessable("AFFILIATE_SLUG_RESERVED", f"{slug!r} is reserved; choose another slug.")
    async with conn.transaction():
        await users_q.lock_user(conn, user_id=creator_id)  # concurrent requests cannot pass the limit
        if (await q.count_creator_links(conn, creator_id=creator_id) or 0) >= settings.creators.max_links:
            raise Forbidden(
                "AFFILIATE_LINK_LIMIT_REACHED", f"A creator may have {settings.creators.max_links} links at most."
            )
        for _ in range(3):  # a code collision (one in 2**60 per link) is retried with a fresh code
            row = await q.insert_affiliate_link(conn, creator_id=creator_id, code=new_code(), custom_slug=slug)
            if row is not None:
                return AffiliateLink(row.id, row.code, row.custom_slug, row.created_at)
            if slug is not None and await q.resolve_affiliate_link(conn, code_or_slug=slug) is not None:
                raise Conflict("AFFILIATE_SLUG_TAKEN", f"The slug {slug!r} is taken; choose another.")
    raise RuntimeError("three random affiliate codes collided")


async def list_links(conn: Connection, creator_id: uuid.UUID) -> list[AffiliateLink]:
    return [
        AffiliateLink(
            id=row.id,
            code=row.code,
            custom_slug=row.custom_slug,
            created_at=row.created_at,
            active=row.disabled_at is None,
            clicks=row.clicks,
            unique_clicks=row.unique_clicks,
            signups=row.signups,
            conversions=row.conversions,
        )
        for row in await q.list_creator_links(conn, creator_id=creator_id)
    ]


def visitor_key(signing_secret: str) -> bytes:
    """The key that makes visitor hashes, derived from the signing secret like the rate-limit pseudonyms."""
    return hashlib.sha256(b"cookcam-affiliate-visitors:" + signing_secret.encode()).digest()


def visitor_network(client_address: str) -> str:
    """The network a visitor is counted by: the IPv4 address itself, an IPv6 address's /64 (what one household or
    device is given; rotating the rest is free). The user agent is not part of it: a script rotates that for free."""
    try:
        address = ipaddress.ip_address(client_address)
    except ValueError:
        return client_address  # no address to go by (a test client): the text itself
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


async def track_click(
    conn: Connection, key: bytes, code_or_slug: str, *, client_address: str, now: datetime.datetime
) -> TrackedClick:
    """Count a click on an active link; one visitor (its address's network, hashed) counts once a day."""
    link = await q.resolve_affiliate_link(conn, code_or_slug=code_or_slug.lower())
    if link is None:
        return TrackedClick(tracked=False, first_today=False)  # unknown codes are not an error for the app
    visitor = hmac.new(key, visitor_network(client_address).encode(), hashlib.sha256).digest()
    first = await q.record_affiliate_click(conn, link_id=link.id, visitor=visitor, day=now.date())
    return TrackedClick(tracked=True, first_today=bool(first))


async def attribute(conn: Connection, user_id: uuid.UUID, code_or_slug: str) -> bool:
    """Attribute the account to an active link; the first valid attribution wins (a repeat of it is fine)."""
    link = await q.resolve_affiliate_link(conn, code_or_slug=code_or_slug.strip().lower())
    if link is None:
        raise Unprocessable("REFERRAL_CODE_UNKNOWN", "This referral code does not exist or is no longer active.")
    if link.creator_id == user_id:
        raise Unprocessable("SELF_REFERRAL", "You cannot use your own referral code.")
    if await q.attribute_referral(conn, user_id=user_id, referral_code=code_or_slug.strip(), link_id=link.id) == 1:
        return True
    current = await q.referrer_of(conn, user_id=user_id)
    if current is not None and current.link_id == link.id:
        return True
    raise Conflict("REFERRAL_ALREADY_LINKED", "This account is already linked to another referral code.")
