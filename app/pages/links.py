"""What the pages that account emails link to share (/account/reset-password, /account/verify-email).

Opening a link only renders a form that carries its token in a hidden field: a GET checks nothing and spends
nothing (mail scanners and link previews fetch links before the person does). The POST, CSRF-checked, hands the
token to the auth service the API's route calls, and the page renders what it answers."""

from __future__ import annotations

from string import Template

from litestar import Response

from app.core.errors import AppError, BadRequest
from app.pages.markup import render
from app.pages.page import Page

# Generous for any token the services issue (app/core/tokens.py: LINK_TOKEN_LENGTH); longer is not one of ours.
MAX_LINK_TOKEN_LENGTH = 256

OUTCOME = Template(
    """<p class="message" role="status">$message</p>
<p>$next_step</p>
"""
)
REFUSED = Template(
    """<p class="message error" role="alert">$message</p>
<p>You can ask for a new link in the CookCam app.</p>
"""
)


def link_token(token: str | None) -> str:
    """The token a link carried, as it came (its service judges it on POST); a missing or oversized one is refused."""
    if not token or len(token) > MAX_LINK_TOKEN_LENGTH:
        raise BadRequest(
            "LINK_INCOMPLETE", "This link is incomplete. Open it from the email as it is, or ask for a new one."
        )
    return token


def outcome(page: Page, title: str, text: str, next_step: str) -> Response[str]:
    return page.respond(title, render(OUTCOME, message=text, next_step=next_step))


def refused(page: Page, refusal: AppError) -> Response[str]:
    """A link the service would not take (damaged, unknown, used, expired): its status and message."""
    return page.respond(
        "This link cannot be used", render(REFUSED, message=refusal.message), status_code=refusal.status_code
    )
