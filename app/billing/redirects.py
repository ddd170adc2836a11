"""Checkout success/cancel URLs must point at our own app or site (BILLING_REDIRECT_ALLOWLIST)."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.core.errors import ErrorDetail, Unprocessable


def is_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Exact origin match for web entries ("https://cookcam.app"), scheme match for app entries ("cookcam://")."""
    parts = urlsplit(url)
    for allowed in allowlist:
        entry = urlsplit(allowed)
        if allowed.endswith("://") and not entry.netloc:
            if parts.scheme == entry.scheme:
                return True
        elif (parts.scheme, parts.netloc) == (entry.scheme, entry.netloc):
            return True
    return False


def require_allowed(field: str, url: str, allowlist: tuple[str, ...]) -> None:
    if not is_allowed(url, allowlist):
        raise Unprocessable(
            "REDIRECT_NOT_ALLOWED",
            "That return address is not one of this app's.",
            details=[ErrorDetail(message="not on the allow-list", field=field)],
        )
