"""/account/delete: the public page Google Play requires for deleting an account without the app.

Three steps: sign in (email and password, throttled with the API's sign-in, one message whichever part is wrong);
read what will be erased and confirm; the done page. The sign-in leaves no session behind: it yields a
confirmation signed for this browser's form cookie, valid ten minutes, which the confirm step spends on the API's
own deletion (`app.account.service.erase_account`: close steps, then one transaction)."""

from __future__ import annotations

import uuid
from string import Template
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency, Provide

from app.account import service as account
from app.account.registry import AccountParts
from app.auth.service import normalise_email, verify_credentials
from app.auth.throttle import Throttle, provide_throttle
from app.core.errors import Forbidden, Unauthorized
from app.core.passwords import Passwords
from app.db.types import ConnectionSource
from app.pages.markup import alert, escape, join, render
from app.pages.page import Page, form_post

PATH = "/account/delete"
CONFIRM_PATH = "/account/delete/confirm"
CONFIRMATION_TTL_SECONDS = 600
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 128

SIGN_IN = Template(
    """<p>Here you can delete your CookCam account and everything in it, without the app. Sign in first: you will
see what is deleted before anything happens.</p>
$message
<form method="post" action="$action">
<input type="hidden" name="$csrf_field" value="$csrf">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="$email">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="128">
<button type="submit">Continue</button>
</form>
"""
)

REVIEW = Template(
    """<p>Signed in as <strong>$email</strong>.</p>
<p>Deleting the account erases at once, for good:</p>
<ul>
<li>your profile, preferences and sign-in sessions (every device is signed out);</li>
<li>your scans and their photos, your recipes, saves, favourites and ratings;</li>
<li>your XP, levels, streaks, achievements and leaderboard places;</li>
<li>your follows, live cooking sessions and their messages, and your app activity;</li>
<li>your subscription records (a subscription paid through our website is cancelled now);</li>
<li>if you are a creator: your affiliate links, earnings and payout records.</li>
</ul>
<p>Not erased by this: a subscription bought in the App Store or Google Play keeps running until you cancel it
there. Earnings your subscription brought a creator stay in that creator's records without your name. Backups
age out on their own schedule.</p>
<form method="post" action="$action">
<input type="hidden" name="$csrf_field" value="$csrf">
<input type="hidden" name="confirmation" value="$confirmation">
<button type="submit" class="danger">Delete my account for good</button>
</form>
<p><a href="$back">Cancel and keep my account</a></p>
"""
)

DONE = Template(
    """<p class="message" role="status">$message</p>
$still_to_do
<p>You can close this page.</p>
"""
)

ITEM = Template("""<li>$text</li>""")


def _sign_in_form(page: Page, *, email: str = "", message: str | None = None) -> Response[str]:
    """The form, again with a message when a sign-in failed (answered 200: the page itself is fine, and browsers
    report any 4xx document as a console error)."""
    content = page.form(SIGN_IN, PATH, message=alert(message), email=email)
    return page.respond("Delete your account", content)


def _confirmation_purpose(page: Page) -> str:
    return f"delete-account {page.binding}"


@get(PATH)
async def delete_account_page(page: NamedDependency[Page]) -> Response[str]:
    return _sign_in_form(page)


@form_post(PATH, dependencies={"throttle": Provide(provide_throttle, sync_to_thread=False)})
async def delete_account_sign_in(
    page: NamedDependency[Page],
    connect: NamedDependency[ConnectionSource],
    passwords: NamedDependency[Passwords],
    throttle: NamedDependency[Throttle],
) -> Response[str]:
    form = await page.read_form("email", "password")
    email, password = form["email"].strip(), form["password"]
    if not email or not password:
        return _sign_in_form(page, email=email, message="Enter your email and your password.")
    if len(email) > MAX_EMAIL_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return _sign_in_form(page, message="The email or password is incorrect.")
    await throttle.count("signin", None, password_of=email)
    try:
        user_id = await verify_credentials(connect, passwords, email, password)
    except Unauthorized:
        return _sign_in_form(page, email=email, message="The email or password is incorrect.")
    confirmation = page.signer.sign(_confirmation_purpose(page), str(user_id), CONFIRMATION_TTL_SECONDS)
    content = page.form(REVIEW, CONFIRM_PATH, email=normalise_email(email), confirmation=confirmation, back=PATH)
    return page.respond("Delete your account?", content)


@form_post(CONFIRM_PATH)
async def delete_account_confirm(
    page: NamedDependency[Page],
    connect: NamedDependency[ConnectionSource],
    account_parts: NamedDependency[AccountParts],
) -> Response[str]:
    form = await page.read_form("confirmation")
    signed = page.signer.unsign(_confirmation_purpose(page), form["confirmation"])
    if signed is None:
        raise Forbidden(
            "CONFIRMATION_EXPIRED", "This confirmation has expired or is not valid here. Sign in again to continue."
        )
    deleted = await account.erase_account(connect, account_parts, uuid.UUID(signed))
    still_to_do = [render(ITEM, text=step) for step in deleted.store_subscriptions_to_cancel]
    content = render(
        DONE,
        message=deleted.message,
        still_to_do=render(Template("<ul>$items</ul>"), items=join(still_to_do)) if still_to_do else escape(""),
    )
    return page.respond("Account deleted", content)


ROUTES: list[Any] = [delete_account_page, delete_account_sign_in, delete_account_confirm]
