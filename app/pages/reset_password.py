"""/account/reset-password?token=...: the page of the reset email's link. Two fields (the new password twice), then
`app.auth.recovery.reset_password`, the function POST /api/v1/auth/reset-password calls, throttled like it."""

from __future__ import annotations

from string import Template
from typing import Annotated, Any

from litestar import Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from app.auth.password_policy import MAX_LENGTH, MIN_LENGTH
from app.auth.recovery import LinkRefused, reset_password
from app.auth.service import Credentials
from app.auth.throttle import Throttle, provide_throttle
from app.core.errors import Unprocessable
from app.db.types import ConnectionSource
from app.pages.links import link_token, outcome, refused
from app.pages.markup import alert
from app.pages.page import Page, form_post

PATH = "/account/reset-password"

FORM = Template(
    """<p>Choose a new password for your CookCam account. Every device signed in to it will be signed out.</p>
$message
<form method="post" action="$action">
<input type="hidden" name="$csrf_field" value="$csrf">
<input type="hidden" name="token" value="$token">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="$min"
 maxlength="$max">
<label for="password_again">The new password again</label>
<input id="password_again" name="password_again" type="password" autocomplete="new-password" required
 minlength="$min" maxlength="$max">
<button type="submit">Set the new password</button>
</form>
"""
)


def _form(page: Page, token: str, problem: str | None = None) -> Response[str]:
    content = page.form(FORM, PATH, message=alert(problem), token=token, min=MIN_LENGTH, max=MAX_LENGTH)
    return page.respond("Choose a new password", content)


@get(PATH)
async def reset_password_page(
    page: NamedDependency[Page], token: Annotated[str | None, QueryParameter()] = None
) -> Response[str]:
    return _form(page, link_token(token))


@form_post(PATH, dependencies={"throttle": Provide(provide_throttle, sync_to_thread=False)})
async def reset_password_submit(
    page: NamedDependency[Page],
    connect: NamedDependency[ConnectionSource],
    credentials: NamedDependency[Credentials],
    throttle: NamedDependency[Throttle],
) -> Response[str]:
    form = await page.read_form("token", "password", "password_again")
    token = link_token(form["token"])
    if form["password"] != form["password_again"]:
        return _form(page, token, "The two passwords are not the same; type the new password twice.")
    await throttle.count("reset-password", None)
    try:
        await reset_password(connect, credentials, token, form["password"])
    except LinkRefused as refusal:
        return refused(page, refusal)
    except Unprocessable as policy:
        return _form(page, token, policy.message)
    return outcome(
        page,
        "Password changed",
        "Your password has been changed, and every device was signed out.",
        "Sign in to the CookCam app with your new password.",
    )


ROUTES: list[Any] = [reset_password_page, reset_password_submit]
