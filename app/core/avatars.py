"""The avatar URL policy: everyone's app loads the picture a profile names, so a profile may name only an https
image on a host we allow (SOCIAL_AVATAR_HOSTS), in plain URL characters: no link-local or private address, no
tracker of the people who look at it, nothing that closes an attribute in a client that renders it carelessly."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

MAX_LENGTH = 2048
# RFC 3986's characters without quotes, parentheses, brackets, backslash, angle brackets, braces or spaces; anything
# else in a path must come percent-encoded.
PATTERN = r"^https://[A-Za-z0-9._~:/?#@!$&*+,;=%-]+$"


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed`: an exact host name, or `*.domain` for any subdomain of domain."""
    return any(host.endswith(entry[1:]) if entry.startswith("*.") else host == entry for entry in allowed)


def avatar_problem(url: str, allowed_hosts: Iterable[str]) -> str | None:
    """Why `url` may not be an avatar (a sentence for the client), or None. PATTERN is checked by the schema."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "Send a well-formed https URL."
    if parts.scheme != "https" or not parts.hostname:
        return "Send a well-formed https URL."
    if "@" in parts.netloc or port not in (None, 443):
        return "The URL may not carry a user name, a password or a port."
    if not host_allowed(parts.hostname, allowed_hosts):
        return "Pictures can come only from the image hosts the app uses."
    return None
