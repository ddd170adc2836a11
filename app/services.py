"""The long-lived objects one worker process shares between requests, built in the app's lifespan."""

from __future__ import annotations

import datetime
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg

from app.auth.service import Credentials
from app.billing.providers import PaymentProviders
from app.core.ai import AiProvider
from app.core.client_address import Network, parse_networks
from app.core.passwords import Passwords
from app.core.ratelimit import RateLimiter
from app.core.tokens import AccessTokenValidator
from app.db.migrations import Migration
from app.db.types import Connection
from app.realtime.hub import Hub
from app.recipes.ranking import CatalogRanking
from app.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    token_validator: AccessTokenValidator
    credentials: Credentials
    rate_limiter: RateLimiter
    trusted_proxies: tuple[Network, ...]
    hub: Hub
    migrations: list[Migration]
    payments: PaymentProviders
    ai: AiProvider
    ranking: CatalogRanking

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """Borrow a pooled connection; waiting longer than DATABASE_ACQUIRE_TIMEOUT_SECONDS raises TimeoutError."""
        acquired: AbstractAsyncContextManager[Connection] = self.pool.acquire(
            timeout=self.settings.database.acquire_timeout_seconds
        )
        return acquired


def credentials_for(settings: Settings, validator: AccessTokenValidator) -> Credentials:
    return Credentials(
        validator=validator,
        access_ttl_seconds=settings.jwt.access_ttl_seconds,
        refresh_ttl=datetime.timedelta(days=settings.jwt.refresh_ttl_days),
        passwords=Passwords(settings.password.max_concurrent_hashes),
    )


def trusted_proxies_for(settings: Settings) -> tuple[Network, ...]:
    return parse_networks(settings.http.trusted_proxies)
