"""How app/web/openapi.py reads the errors a docstring names ("409 EMAIL_TAKEN"), which the document then lists."""

from __future__ import annotations

from app.web.openapi import named_in_docstring


def test_a_status_followed_by_codes_names_them_up_to_the_end_of_its_clause() -> None:
    doc = """Sign in. 401 GOOGLE_TOKEN_INVALID or GOOGLE_TOKEN_EXPIRED; 409 ACCOUNT_EMAIL_UNVERIFIED (an account uses
    the address but never verified it) or EMAIL_TAKEN; 422
    PROVIDER_EMAIL_MISSING. Limited per address (429 RATE_LIMITED)."""
    assert named_in_docstring(doc) == {
        401: {"GOOGLE_TOKEN_INVALID", "GOOGLE_TOKEN_EXPIRED"},
        409: {"ACCOUNT_EMAIL_UNVERIFIED", "EMAIL_TAKEN"},
        422: {"PROVIDER_EMAIL_MISSING"},
        429: {"RATE_LIMITED"},
    }


def test_a_clause_ends_at_the_next_status() -> None:
    doc = "400 NOTIFICATION_INVALID for a body that is not one, 422 APPLE_SIGNATURE_INVALID, 503 APPLE_UNCONFIGURED."
    assert named_in_docstring(doc) == {
        400: {"NOTIFICATION_INVALID"},
        422: {"APPLE_SIGNATURE_INVALID"},
        503: {"APPLE_UNCONFIGURED"},
    }


def test_prose_successes_and_statuses_the_app_never_answers_are_not_errors() -> None:
    doc = """200 with the same body as sign-in; 201 NEW_ACCOUNT when created; answers 404 when nothing matches;
    500 INTERNAL_ERROR is a bug, 418 TEAPOT_MODE never happens; the ERROR_BODY shape."""
    assert named_in_docstring(doc) == {}
    assert named_in_docstring(None) == {}
