"""Every page (all under /account), one Router: outside /api/v1 and the OpenAPI schema, errors rendered as HTML."""

from __future__ import annotations

import functools
from importlib import resources

from litestar import Response, Router, get
from litestar.di import Provide

from app.pages import account_delete, reset_password, verify_email
from app.pages.errors import PAGE_EXCEPTION_HANDLERS
from app.pages.markup import ICON_PATH, STYLESHEET_PATH
from app.pages.page import provide_page


@functools.cache
def _asset(name: str) -> str:
    return resources.files("app.pages").joinpath(name).read_text(encoding="utf-8")


@get(STYLESHEET_PATH)
async def stylesheet() -> Response[str]:
    return Response(_asset("pages.css"), media_type="text/css; charset=utf-8")


@get(ICON_PATH)
async def icon() -> Response[str]:
    return Response(_asset("favicon.svg"), media_type="image/svg+xml")


account_pages = Router(
    path="/",
    route_handlers=[stylesheet, icon, *account_delete.ROUTES, *reset_password.ROUTES, *verify_email.ROUTES],
    dependencies={"page": Provide(provide_page, sync_to_thread=False)},
    exception_handlers=PAGE_EXCEPTION_HANDLERS,
    include_in_schema=False,
)
