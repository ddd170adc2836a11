"""The app-wide dependencies routes ask for by name: one pooled connection per request (`db`), a way to borrow one
briefly (`connect`), the client's address, and each long-lived object of the worker's `Services`. Routes declare
what they use (`payments: NamedDependency[PaymentProviders]`) and never see `Services` itself."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from app.auth.reauthentication import provide_owner_check
from app.core.client_address import client_address
from app.db.types import Connection, ConnectionSource
from app.web.services import Services


def services_from(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_db(state: State) -> AsyncGenerator[Connection, None]:
    async with services_from(state).connection() as conn:
        yield conn


def provide_client_address(request: Request[Any, Any, Any]) -> str:
    peer = request.client.host if request.client else None
    trusted = services_from(request.app.state).trusted_proxies
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted)


def provide_connect(state: State) -> ConnectionSource:
    return services_from(state).connection


def _attribute(name: str) -> Provide:
    def provide(state: State) -> Any:
        return getattr(services_from(state), name)

    return Provide(provide, sync_to_thread=False)


# Every name here is available to every route; Litestar resolves only those a route declares.
APP_DEPENDENCIES: dict[str, Provide] = {
    "db": Provide(provide_db),
    "connect": Provide(provide_connect, sync_to_thread=False),
    "client_address": Provide(provide_client_address, sync_to_thread=False),
    # The proof of ownership a deletion asks for (app.account knows only its shape: app/account/registry.py).
    "owner_check": Provide(provide_owner_check, sync_to_thread=False),
    **{
        name: _attribute(name)
        for name in (
            "settings",
            "token_validator",
            "credentials",
            "passwords",
            "rate_limiter",
            "payments",
            "billing",
            "ai",
            "image_decoding",
            "ranking",
            "recipe_sources",
            "hub",
            "migrations",
            "pool",
            "socket_requests",
            "account_parts",
            "sign_in_providers",
        )
    },
}
