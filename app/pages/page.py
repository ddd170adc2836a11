"""One page request: reading its form (strictly: UTF-8, few fields, a CSRF token bound to the form cookie) and
answering with an HTML document under the pages' Content-Security-Policy.

CSRF is a double submit: the browser holds a random value in an HttpOnly, SameSite=Strict cookie (`cookcam_form`,
path /account) and every form carries a token signed for that form's address and bound to a hash of the cookie,
valid for an hour. A POST without the cookie, with a token for another cookie or form, an expired or forged token,
or sent from another site (Sec-Fetch-Site: cross-site) is refused with 403 before anything else runs."""

from __future__ import annotations

import hashlib
import secrets
import urllib.parse
from string import Template
from typing import Any

from litestar import MediaType, Request, Response, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency

from app.core.errors import BadRequest, Forbidden
from app.pages.markup import Html, document, render
from app.pages.signing import Signer
from app.settings import Settings

# What the pages may load: their own stylesheet, their own images, forms posted to themselves; no script at all.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
FORM_COOKIE = "cookcam_form"
CSRF_FIELD = "csrf_token"
CSRF_TTL_SECONDS = 3600
# A page form has a handful of short fields: bodies beyond this are refused with 413 before they are read.
FORM_MAX_BODY_BYTES = 8 * 1024
FORM_MAX_FIELDS = 8
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded",)


def _fingerprint(cookie: str) -> str:
    return hashlib.sha256(f"cookcam form cookie\n{cookie}".encode()).hexdigest()[:32]


def _well_formed_cookie(value: str | None) -> str | None:
    if value is None or not 32 <= len(value) <= 64 or not value.isascii():
        return None
    return value


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "CSRF_REFUSED",
            "This form has expired or was not sent from this site. Open the page again and send it once more.",
        )


class Page:
    """Built for each page request by the `page` dependency."""

    def __init__(self, request: Request[Any, Any, Any], settings: Settings) -> None:
        self.signer = Signer(settings.jwt)
        self._request = request
        self._secure_cookie = settings.is_production_like
        self._cookie = _well_formed_cookie(request.cookies.get(FORM_COOKIE))
        self._new_cookie: str | None = None

    @property
    def binding(self) -> str:
        """A value that only this browser's form cookie yields: tokens signed with it are useless elsewhere."""
        if self._cookie is None:
            self._cookie = self._new_cookie = secrets.token_urlsafe(32)
        return _fingerprint(self._cookie)

    def csrf_token(self, action: str) -> str:
        """The token for a form that posts to `action` (a path of these pages)."""
        return self.signer.sign(f"csrf {action}", self.binding, CSRF_TTL_SECONDS)

    def form(self, template: Template, action: str, **values: object) -> Html:
        """Render a template holding a form that posts to `action`: its $action, $csrf_field and $csrf filled in."""
        return render(template, action=action, csrf_field=CSRF_FIELD, csrf=self.csrf_token(action), **values)

    async def read_form(self, *fields: str) -> dict[str, str]:
        """The named fields of a urlencoded body (missing ones empty), after the CSRF check."""
        body = await self._request.body()
        try:
            pairs = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=FORM_MAX_FIELDS, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("FORM_MALFORMED", "The form could not be read; open the page again.") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise BadRequest("FORM_MALFORMED", "The form could not be read; open the page again.")
            form[name] = value
        self._check_csrf(form.get(CSRF_FIELD, ""))
        return {name: form.get(name, "") for name in fields}

    def _check_csrf(self, token: str) -> None:
        if self._request.headers.get("sec-fetch-site") == "cross-site" or self._cookie is None:
            raise CsrfRefused()
        if self.signer.unsign(f"csrf {self._request.url.path}", token) != _fingerprint(self._cookie):
            raise CsrfRefused()

    def respond(self, title: str, content: Html, *, status_code: int = 200) -> Response[str]:
        return html_response(title, content, status_code=status_code, cookies=self._cookies())

    def _cookies(self) -> list[Cookie]:
        if self._new_cookie is None:
            return []
        return [
            Cookie(
                key=FORM_COOKIE,
                value=self._new_cookie,
                path="/account",
                httponly=True,
                secure=self._secure_cookie,
                samesite="strict",
            )
        ]


def html_response(
    title: str,
    content: Html,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Response[str]:
    return Response(
        content=document(title, content),
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={**(headers or {}), "Content-Security-Policy": PAGE_CSP},
        cookies=cookies,
    )


def form_post(path: str, **options: Any) -> post:
    """The POST handler of a page form: urlencoded bodies only (else 415), at most FORM_MAX_BODY_BYTES (else 413)."""
    return post(
        path,
        status_code=200,
        request_max_body_size=FORM_MAX_BODY_BYTES,
        opt={"content_types": FORM_CONTENT_TYPES},
        **options,
    )


def provide_page(request: Request[Any, Any, Any], settings: NamedDependency[Settings]) -> Page:
    return Page(request, settings)
