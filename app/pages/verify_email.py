"""/account/verify-email?token=...: the page of a verification email's link. One button, then
`app.auth.verification.verify_email`, the function POST /api/v1/auth/verify-email calls, throttled like it."""

from __future__ import annotations

from string import Template
from typing import Annotated, Any

from litestar import Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from app.auth.recovery import LinkRefused
from app.auth.throttle import Throttle, provide_throttle
from app.auth.verification import verify_email
from app.core.errors import Conflict
from app.db.types import ConnectionSource
from app.pages.links import link_token, outcome, refused
from app.pages.page import Page, form_post

PATH = "/account/verify-email"

FORM = Template(
    """<p>Confirm that this email address is yours, and CookCam will use it for your account.</p>
<form method="post" action="$action">
<input type="hidden" name="$csrf_field" value="$csrf">
<input type="hidden" name="token" value="$token">
<button type="submit">Confirm my email address</button>
</form>
"""
)


@get(PATH)
async def verify_email_page(
    page: NamedDependency[Page], token: Annotated[str | None, QueryParameter()] = None
) -> Response[str]:
    return page.respond("Confirm your email address", page.form(FORM, PATH, token=link_token(token)))


@form_post(PATH, dependencies={"throttle": Provide(provide_throttle, sync_to_thread=False)})
async def verify_email_submit(
    page: NamedDependency[Page], connect: NamedDependency[ConnectionSource], throttle: NamedDependency[Throttle]
) -> Response[str]:
    form = await page.read_form("token")
    token = link_token(form["token"])
    await throttle.count("verify-email", None)
    try:
        await verify_email(connect, token)
    except (LinkRefused, Conflict) as refusal:
        return refused(page, refusal)
    return outcome(page, "Email address confirmed", "Your email address is confirmed.", "You can go back to the app.")


ROUTES: list[Any] = [verify_email_page, verify_email_submit]
