"""Access tokens (JWT, HS256, with `kid`) and opaque refresh tokens.

One validator, `AccessTokenValidator.validate`, serves the HTTP guard and the WebSocket handshake. Verification
accepts the current and the previous signing key, chosen by `kid`, so keys rotate without signing anyone out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from app.core.errors import Unauthorized
from app.core.supabase_tokens import SupabaseTokens
from app.settings import JwtSettings

ALGORITHM = "HS256"
# Distinct live access tokens one worker remembers as verified (each under 1 KB: the token and its claims).
VERIFIED_CACHE_SIZE = 8192


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int


class AccessTokenValidator:
    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._keys = {settings.key_id: settings.secret}
        if settings.previous_secret and settings.previous_key_id:
            self._keys[settings.previous_key_id] = settings.previous_secret
        # Supabase's access tokens during the move (app/core/supabase_tokens.py), set by the wiring; consulted by
        # app/core/identity.py only for a token this validator refused, so None or not, ours cost the same.
        self.supabase: SupabaseTokens | None = None
        self._verified = functools.lru_cache(maxsize=VERIFIED_CACHE_SIZE)(self._verify)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, *, now: float | None = None) -> str:
        issued_at = int(now if now is not None else time.time())
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iss": self._settings.issuer,
            "iat": issued_at,
            "exp": issued_at + self._settings.access_ttl_seconds,
        }
        return jwt.encode(claims, self._settings.secret, algorithm=ALGORITHM, headers={"kid": self._settings.key_id})

    def validate(self, token: str, *, now: float | None = None) -> AccessClaims:
        """Return the token's claims or raise Unauthorized with TOKEN_EXPIRED / TOKEN_INVALID.

        A client sends the same access token on every request for its 15 minutes, so the signature check (the
        expensive part) is remembered per exact token string; expiry is checked on every call. Only tokens that
        verified are remembered, and a forged token differs in its signature, so it never matches an entry.
        """
        claims = self._verified(token)
        if claims.expires_at <= (time.time() if now is None else now):
            raise Unauthorized("TOKEN_EXPIRED", "The access token has expired; refresh it.")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthorized("TOKEN_INVALID", "The access token is malformed.") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("TOKEN_INVALID", "The access token was signed with an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._settings.issuer,
                # Expiry is checked by validate() on every use, the cached path included.
                options={"require": ["exp", "iat", "sub", "sid", "iss"], "verify_exp": False},
            )
            return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), int(claims["exp"]))
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthorized("TOKEN_INVALID", "The access token is invalid.") from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    # Refresh tokens are 256 random bits, so a fast unsalted hash is enough to make a stolen table useless.
    return hashlib.sha256(token.encode()).digest()


def successor_key(signing_secret: str) -> bytes:
    """The key successors of refresh tokens are derived with, from the signing secret (no extra secret to set)."""
    return hashlib.sha256(b"cookcam-refresh-successor:" + signing_secret.encode()).digest()


def successor_refresh_token(key: bytes, spent: str) -> str:
    """The refresh token that replaces `spent`: as unpredictable as a random one to anyone without both the spent
    token and the key, and the same every time, so a refresh repeated within the reuse grace can be answered with
    the successor already issued although only its hash is stored."""
    digest = hmac.new(key, spent.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Single-use links (password reset, email verification): 256 random bits and a 4-byte checksum of them, base64url.
# The checksum is no secret (anyone can compute one); it tells a link damaged or altered in transit from one that
# was never issued. Security rests on the random part and on storing only its sha256, as for refresh tokens.
_LINK_RANDOM_BYTES = 32
_LINK_CHECK_BYTES = 4
LINK_TOKEN_LENGTH = 48  # base64url of 36 bytes, unpadded


def _link_check(random_part: bytes) -> bytes:
    return hashlib.sha256(b"cookcam-link:" + random_part).digest()[:_LINK_CHECK_BYTES]


def new_link_token() -> str:
    random_part = secrets.token_bytes(_LINK_RANDOM_BYTES)
    return base64.urlsafe_b64encode(random_part + _link_check(random_part)).decode().rstrip("=")


def link_token_intact(token: str) -> bool:
    """Whether `token` has the shape of a link token and its checksum matches (it was not damaged or altered)."""
    if len(token) != LINK_TOKEN_LENGTH or not token.isascii():
        return False
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return False
    random_part, check = raw[:_LINK_RANDOM_BYTES], raw[_LINK_RANDOM_BYTES:]
    return len(raw) == _LINK_RANDOM_BYTES + _LINK_CHECK_BYTES and hmac.compare_digest(check, _link_check(random_part))


def hash_link_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
