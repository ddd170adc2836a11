"""Signed, expiring values for the pages' forms (CSRF tokens, the deletion's confirmation): HMAC-SHA256 under keys
derived from the JWT secrets (the current one signs; the previous one still verifies after a rotation)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from app.settings import JwtSettings

# Longer values are refused before any work (a form field may carry anything).
MAX_TOKEN_LENGTH = 512


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _page_key(secret: str) -> bytes:
    # A key of their own: a page token is never a valid JWT signature, nor the other way round.
    return hmac.new(secret.encode(), b"cookcam web pages v1", hashlib.sha256).digest()


class Signer:
    def __init__(self, jwt: JwtSettings) -> None:
        secrets = [jwt.secret, *([jwt.previous_secret] if jwt.previous_secret else [])]
        self._keys = [_page_key(secret) for secret in secrets]

    def sign(self, purpose: str, value: str, ttl_seconds: int, *, now: float | None = None) -> str:
        expires = int(time.time() if now is None else now) + ttl_seconds
        body = f"{expires}.{_b64(value.encode())}"
        return f"{body}.{_b64(self._mac(self._keys[0], purpose, body))}"

    def unsign(self, purpose: str, token: str, *, now: float | None = None) -> str | None:
        """The value signed for this purpose, or None when the token is malformed, forged, expired or another's."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            return None
        expires, encoded, signature = token.split(".")
        body = f"{expires}.{encoded}"
        try:
            given = _unb64(signature)
            value = _unb64(encoded).decode()
        except (binascii.Error, ValueError):
            return None
        if not any(hmac.compare_digest(self._mac(key, purpose, body), given) for key in self._keys):
            return None
        if not expires.isdigit() or int(expires) <= (time.time() if now is None else now):
            return None
        return value

    @staticmethod
    def _mac(key: bytes, purpose: str, body: str) -> bytes:
        return hmac.new(key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest()
