"""create_app(settings): the one place that wires routes, dependencies, error handling and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig

from app.account.routes import delete_account, export_account
from app.account.service import erase_account
from app.analytics.routes import AnalyticsController
from app.auth.routes import AuthController, ProfileController
from app.auth.sign_in_providers import SignInProviders
from app.billing.providers import PaymentProviders
from app.billing.routes import SubscriptionController, stripe_webhook, user_subscription
from app.billing.stores.routes import apple_notification, google_notification, validate_receipt
from app.core.ai import AiProvider
from app.core.content_type import require_declared_content_type
from app.core.edge import EdgeMiddleware
from app.core.errors import EXCEPTION_HANDLERS
from app.core.json_body import StrictJsonBody
from app.core.logging import configure_logging
from app.core.ratelimit import PostgresCounters, RateLimiter, RedisCounters, pseudonym_key
from app.core.shutdown import run_before_server_shutdown
from app.core.supabase_tokens import SupabaseTokens
from app.core.tokens import AccessTokenValidator
from app.core.tracing import configure_tracing, flush_spans, instrument_asgi
from app.creators.billing_hooks import billing_hooks
from app.creators.routes import CreatorController, link_referral, stripe_connect_webhook
from app.db.migrations import load_migrations
from app.db.pool import create_pool
from app.gamification.routes import GamificationController
from app.ingredients.routes import IngredientController
from app.live.protocol import socket_requests
from app.live.routes import LiveSessionController
from app.ops.gauges import refresh_gauges_forever
from app.ops.jobs import run_periodically
from app.ops.routes import health, metrics_endpoint, ready
from app.pages.routes import account_pages
from app.realtime.hub import Hub
from app.realtime.routes import realtime_socket
from app.recipes.ranking import CatalogRanking
from app.recipes.routes import RecipeController
from app.scan.routes import ScanController
from app.settings import Settings, load_settings
from app.users.routes import UserController
from app.web.account_parts import account_parts
from app.web.dependencies import APP_DEPENDENCIES
from app.web.openapi import openapi_config, openapi_plugins
from app.web.services import Services, credentials_for, image_decoding_for, pool_connections, trusted_proxies_for


def _lifespan(settings: Settings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        dsn = settings.database.url
        if not dsn:
            raise RuntimeError("DATABASE_URL is not set; start the service with `cookcam serve`.")
        pool = await create_pool(dsn, settings.database)
        hub = Hub(dsn)
        counters = RedisCounters.from_url(settings.ratelimit.redis_url) if settings.ratelimit.redis_url else None
        validator = AccessTokenValidator(settings.jwt)
        validator.supabase = SupabaseTokens.create(settings, validator.key_ids)
        payments = PaymentProviders.create(settings, billing_hooks(settings.creators))
        connection = pool_connections(pool, settings.database.acquire_timeout_seconds)
        parts = account_parts(payments.stripe.client)
        rate_limiter = RateLimiter(counters or PostgresCounters(), pseudonym_key=pseudonym_key(settings.jwt.secret))
        services = Services(
            settings=settings,
            pool=pool,
            connection=connection,
            token_validator=validator,
            credentials=credentials_for(settings, validator),
            rate_limiter=rate_limiter,
            trusted_proxies=trusted_proxies_for(settings),
            hub=hub,
            migrations=load_migrations(),
            payments=payments,
            ai=AiProvider(settings),
            image_decoding=image_decoding_for(settings),
            ranking=CatalogRanking(),
            socket_requests=(socket_requests(connection, settings.live, rate_limiter),),
            account_parts=parts,
            sign_in_providers=SignInProviders.create(settings, functools.partial(erase_account, connection, parts)),
        )
        app.state.services = services
        app.state.token_validator = validator  # read by app/core/identity.py on every authenticated request
        await hub.start()
        # Everything made so far lives as long as the worker: out of the collector's sight, a full collection
        # scans only what requests made since. Before this, workers ran one about every second under load, each
        # 80-110 ms of scanning that found nothing and stalled every request in flight (docs/benchmarks.md).
        gc.freeze()
        # WebSockets get their 1001 close before granian starts its own shutdown (see app/core/shutdown.py).
        run_before_server_shutdown(hub.close_all, timeout=min(5.0, settings.http.shutdown_drain_seconds))
        background = [asyncio.create_task(refresh_gauges_forever(pool, hub))]
        if settings.jobs.scheduler_enabled:
            background.append(asyncio.create_task(run_periodically(pool, settings, services.payments)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await hub.stop()
            if counters is not None:
                await counters.close()
            await services.payments.close()
            await services.ai.close()
            services.image_decoding.close()
            await services.sign_in_providers.close()
            if validator.supabase is not None:
                await validator.supabase.close()
            await pool.close()
            await asyncio.to_thread(flush_spans)
            gc.unfreeze()

    return lifespan


def create_app(settings: Settings) -> Litestar:
    configure_logging(settings)
    tracing_enabled = configure_tracing(settings)
    app = Litestar(
        route_handlers=[
            AuthController,
            ProfileController,
            delete_account,
            export_account,
            link_referral,
            SubscriptionController,
            user_subscription,
            stripe_webhook,
            stripe_connect_webhook,
            validate_receipt,
            apple_notification,
            google_notification,
            realtime_socket,
            LiveSessionController,
            ScanController,
            IngredientController,
            RecipeController,
            GamificationController,
            CreatorController,
            AnalyticsController,
            UserController,
            health,
            ready,
            metrics_endpoint,
            account_pages,
        ],
        dependencies=APP_DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        # Every request body is decoded strictly from its JSON bytes (app/core/json_body.py).
        dto=StrictJsonBody,
        before_request=require_declared_content_type,
        lifespan=[_lifespan(settings)],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origin),
            allow_credentials=False,
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
        if settings.cors_origin
        else None,
        # The document as the API behaves (errors, security, the release's version) and its offline viewer.
        openapi_config=openapi_config(),
        plugins=openapi_plugins(),
        request_max_body_size=settings.http.max_body_bytes,
        debug=False,
        # Logging is configured by app/core/logging.py; Litestar must not replace the handlers.
        logging_config=None,
    )
    # Outermost layers, around Litestar's router, so that unknown routes get a request id and metrics too.
    edge = EdgeMiddleware(app.asgi_handler, hsts=settings.is_production_like, traced=tracing_enabled)
    app.asgi_handler = instrument_asgi(edge) if tracing_enabled else edge
    return app


def create_app_from_environment() -> Litestar:
    """The granian target: every worker process builds its app from the same environment."""
    return create_app(load_settings())
