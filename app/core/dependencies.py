"""What routes receive through dependency injection: a pooled connection, the caller, the client address."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.auth.service import CurrentUser, authenticate
from app.core.client_address import client_address
from app.core.errors import Unauthorized
from app.core.request_context import user_id_var
from app.core.tokens import AccessTokenValidator, bearer_token
from app.db.types import Connection
from app.services import Services


def services_from(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_db(state: State) -> AsyncGenerator[Connection, None]:
    async with services_from(state).connection() as conn:
        yield conn


async def provide_caller(request: Request[Any, Any, Any], db: NamedDependency[Connection]) -> CurrentUser:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("UNAUTHENTICATED", "Sign in to continue: an Authorization: Bearer token is required.")
    validator: AccessTokenValidator = services_from(request.app.state).token_validator
    caller = await authenticate(db, validator, token)
    user_id_var.set(str(caller.id))
    return caller


async def provide_caller_briefly(request: Request[Any, Any, Any]) -> CurrentUser:
    """The caller, authenticated on a connection returned at once: for routes that wait on other companies' APIs,
    so that a slow provider does not hold a pooled connection for the whole request."""
    async with services_from(request.app.state).connection() as conn:
        return await provide_caller(request, conn)


def provide_client_address(request: Request[Any, Any, Any]) -> str:
    peer = request.client.host if request.client else None
    trusted = services_from(request.app.state).trusted_proxies
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted)
