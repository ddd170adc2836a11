"""The long-lived objects one worker process shares between requests, built in the app's lifespan: the web
wiring's container, above every domain (routes receive its parts through app/web/dependencies.py)."""

from __future__ import annotations

import datetime
import functools
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg

from app.account.registry import AccountParts
from app.auth.emails import AccountMail
from app.auth.service import Credentials
from app.auth.sign_in_providers import SignInProviders
from app.billing.providers import Billing, PaymentProviders
from app.core.ai import AiProvider
from app.core.bounded_threads import BoundedThreads
from app.core.client_address import Network, parse_networks
from app.core.mail.outbox import message_domain
from app.core.passwords import Passwords
from app.core.ratelimit import RateLimiter
from app.core.tokens import AccessTokenValidator, successor_key
from app.db.migrations import Migration
from app.db.types import Connection, ConnectionSource
from app.realtime.hub import Hub
from app.realtime.requests import SocketRequests
from app.recipes.generation import RecipeSources
from app.recipes.ranking import CatalogRanking
from app.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    connection: ConnectionSource
    token_validator: AccessTokenValidator
    credentials: Credentials
    rate_limiter: RateLimiter
    trusted_proxies: tuple[Network, ...]
    hub: Hub
    migrations: list[Migration]
    payments: PaymentProviders
    ai: AiProvider
    # Scanning's image decoding: threads of its own (SCAN_DECODE_THREADS), not the default executor's.
    image_decoding: BoundedThreads
    ranking: CatalogRanking
    # Requests other domains answer on the WebSocket (live.*).
    socket_requests: tuple[SocketRequests, ...]
    # Each domain's share of an account's export and deletion.
    account_parts: AccountParts
    # Sign in with Apple and Google: their token verifiers and published keys.
    sign_in_providers: SignInProviders

    @property
    def passwords(self) -> Passwords:
        return self.credentials.passwords

    # The groups some routes use, one per worker and each resolved as one dependency: built per request from
    # their parts, they cost those routes anyio task groups a request in Litestar's parallel dependency resolution
    # (docs/benchmarks.md, "Where the time goes (2026-12-07): StoreKit validation, cache-hit generation and scan").
    @functools.cached_property
    def billing(self) -> Billing:
        return Billing(self.connection, self.payments, self.settings)

    @functools.cached_property
    def recipe_sources(self) -> RecipeSources:
        return RecipeSources(self.connection, self.ai, self.settings, self.ranking)


def pool_connections(pool: asyncpg.Pool, acquire_timeout_seconds: float) -> ConnectionSource:
    """Borrow a pooled connection for an `async with`; waiting longer than the timeout raises TimeoutError."""

    def connection() -> AbstractAsyncContextManager[Connection]:
        acquired: AbstractAsyncContextManager[Connection] = pool.acquire(timeout=acquire_timeout_seconds)
        return acquired

    return connection


def credentials_for(settings: Settings, validator: AccessTokenValidator) -> Credentials:
    return Credentials(
        validator=validator,
        access_ttl_seconds=settings.jwt.access_ttl_seconds,
        refresh_ttl=datetime.timedelta(days=settings.jwt.refresh_ttl_days),
        imported_refresh_window_days=settings.jwt.imported_refresh_window_days,
        refresh_reuse_grace_seconds=settings.jwt.refresh_reuse_grace_seconds,
        refresh_successor_key=successor_key(settings.jwt.secret),
        passwords=Passwords(
            settings.password.max_concurrent_hashes, settings.password.max_concurrent_hashes_per_account
        ),
        mail=AccountMail(settings.http.public_base_url, message_domain(settings.mail.from_address)),
    )


def image_decoding_for(settings: Settings) -> BoundedThreads:
    return BoundedThreads(
        "image-decoding",
        threads=settings.scan.decode_threads,
        wait_seconds=settings.scan.decode_wait_seconds,
        busy_code="IMAGE_DECODER_BUSY",
        busy_message="Too many images are being processed right now; try again in a moment.",
    )


def trusted_proxies_for(settings: Settings) -> tuple[Network, ...]:
    return parse_networks(settings.http.trusted_proxies)
