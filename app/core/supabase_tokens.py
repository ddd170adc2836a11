"""The previous backend's (Supabase's) access tokens, accepted wherever ours are until SUPABASE_TOKEN_ACCEPT_UNTIL,
so that apps still holding one keep working while they move over (docs/security.md, "Supabase access tokens during
the move").

Only tokens our own validator refused come here (app/core/identity.py), so our tokens never pay for this path. A
token is taken for Supabase's by its header alone (an algorithm Supabase signs with, and a `kid` that is not one of
ours); it is then verified only against Supabase's keys: HS256 with SUPABASE_JWT_SECRET (never with a published
public key), ES256/RS256 with the key of its `kid` from SUPABASE_JWKS_URL, whose own algorithm must be the header's.
Claims: exp, iss (when configured), aud and role "authenticated", a uuid sub and session_id. Nothing about a token
is logged.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import httpx
import jwt
import msgspec

from app.core.errors import Unauthorized
from app.core.http import create_http_client
from app.core.signing_keys import SigningKeys
from app.settings import OutboundSettings, Settings, SupabaseSettings

AUDIENCE = "authenticated"
ROLE = "authenticated"
HMAC_ALGORITHM = "HS256"
PUBLIC_KEY_ALGORITHMS = frozenset({"ES256", "RS256"})
# Clock differences between Supabase and us when checking exp.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class SupabaseClaims:
    user_id: uuid.UUID
    supabase_session_id: uuid.UUID
    issued_at: int
    expires_at: int


class _Jwk(msgspec.Struct, frozen=True):
    kty: str
    kid: str | None = None
    use: str = "sig"


class _Jwks(msgspec.Struct, frozen=True):
    keys: list[msgspec.Raw]


def parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
    """Supabase's JWKS: its EC (ES256) and RSA (RS256) signing keys by kid; anything else (a symmetric key, an
    encryption key, a key without kid) is ignored."""
    try:
        document = msgspec.json.decode(body, type=_Jwks)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a JWKS: {exc}") from None
    keys: dict[str, jwt.PyJWK] = {}
    for raw in document.keys:
        try:
            head = msgspec.json.decode(raw, type=_Jwk)
            data = msgspec.json.decode(raw, type=dict[str, object])
        except msgspec.DecodeError:
            continue
        if head.kid is None or head.use != "sig" or head.kty not in ("EC", "RSA"):
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in PUBLIC_KEY_ALGORITHMS:
            keys[head.kid] = key
    if not keys:
        raise ValueError("no ES256 or RS256 signing key")
    return keys


def _invalid(message: str = "The access token is invalid.") -> Unauthorized:
    return Unauthorized("TOKEN_INVALID", message)


class SupabaseTokens:
    """Verifies Supabase access tokens during the window; built only when SUPABASE_TOKEN_ACCEPT_UNTIL is set."""

    def __init__(
        self,
        settings: SupabaseSettings,
        accept_until: datetime,
        our_key_ids: Collection[str],
        outbound: OutboundSettings,
        http: httpx.AsyncClient | None,
    ) -> None:
        self._secret = settings.jwt_secret or None
        self._issuer = settings.issuer or None
        self._accept_until = accept_until.timestamp()
        self._our_key_ids = frozenset(our_key_ids)
        self._http = http
        self._keys: SigningKeys[jwt.PyJWK] | None = None
        if settings.jwks_url and http is not None:
            self._keys = SigningKeys(
                "Supabase", settings.jwks_url, parse_jwks, http, outbound, unavailable_code="SUPABASE_UNAVAILABLE"
            )

    @classmethod
    def create(cls, settings: Settings, our_key_ids: Collection[str]) -> SupabaseTokens | None:
        """The verifier while a window is configured (even a past one: its tokens then get LEGACY_TOKEN_EXPIRED);
        None otherwise, and the path costs nothing."""
        until = settings.supabase.token_accept_until
        if until is None:
            return None
        http = create_http_client() if settings.supabase.jwks_url else None
        return cls(settings.supabase, until, our_key_ids, settings.outbound, http)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def is_theirs(self, token: str) -> bool:
        """Whether the token's header is a Supabase access token's: the cheap check, no signature verified."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        kid, alg = header.get("kid"), header.get("alg")
        if kid is not None and (not isinstance(kid, str) or kid in self._our_key_ids):
            return False
        if alg == HMAC_ALGORITHM:
            return self._secret is not None
        return alg in PUBLIC_KEY_ALGORITHMS and self._keys is not None and isinstance(kid, str)

    async def verify(self, token: str, *, now: float | None = None) -> SupabaseClaims:
        """The claims of a token `is_theirs` said was Supabase's; 401 LEGACY_TOKEN_EXPIRED once the window has
        ended, TOKEN_EXPIRED / TOKEN_INVALID otherwise."""
        moment = time.time() if now is None else now
        if moment >= self._accept_until:
            raise Unauthorized(
                "LEGACY_TOKEN_EXPIRED", "Tokens of the previous CookCam service are no longer accepted; sign in again."
            )
        header = jwt.get_unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        key: object
        if alg == HMAC_ALGORITHM and self._secret is not None:
            key = self._secret
        elif alg in PUBLIC_KEY_ALGORITHMS and self._keys is not None and isinstance(kid, str):
            jwk = (await self._keys.keys(kid)).get(kid)
            # The key's own algorithm decides: an RSA key never verifies an ES256 header, nor any key an HS256 one.
            if jwk is None or jwk.algorithm_name != alg:
                raise _invalid("The access token was signed with an unknown key.")
            key = jwk.key
        else:
            raise _invalid()
        return self._decode(token, key, str(alg), moment)

    def _decode(self, token: str, key: object, alg: str, moment: float) -> SupabaseClaims:
        required = ["exp", "iat", "sub", "aud", "role", "session_id"] + (["iss"] if self._issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": required, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise _invalid() from None
        try:
            expires_at, issued_at = int(claims["exp"]), int(claims["iat"])
            user_id, session_id = uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["session_id"]))
        except (ValueError, TypeError, OverflowError):
            raise _invalid() from None
        if claims.get("role") != ROLE:
            raise _invalid()
        if expires_at + LEEWAY_SECONDS <= moment:
            raise Unauthorized("TOKEN_EXPIRED", "The access token has expired; refresh it.")
        return SupabaseClaims(user_id, session_id, issued_at, expires_at)
