"""Sign in with Apple: the identity token the app receives from Apple, verified as Apple documents ("Verifying a
user", https://developer.apple.com/documentation/sign_in_with_apple/sign_in_with_apple_rest_api/verifying_a_user):
RS256 against Apple's JWKS (APPLE_SIGNIN_KEYS_URL, cached per Cache-Control, refetched once for an unknown kid),
`iss` https://appleid.apple.com, `aud` the bundle id or a configured Services ID, `exp`/`iat`, and the nonce: the
token carries sha256(nonce) as hex when the app passed sha256(nonce) to Apple's request."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
import msgspec

from app.auth.social import VerifiedIdentity, bool_claim, email_claim, is_private_relay, issued_at_claim
from app.core.errors import Unauthorized
from app.core.signing_keys import SigningKeys
from app.settings import AppleSettings, OutboundSettings

APPLE_ISSUER = "https://appleid.apple.com"
CLOCK_SKEW_SECONDS = 60
MAX_SUBJECT_LENGTH = 255


class _Jwk(msgspec.Struct, frozen=True):
    kty: str
    kid: str
    n: str
    e: str
    alg: str = "RS256"
    use: str = "sig"


class _Jwks(msgspec.Struct, frozen=True):
    keys: list[_Jwk]


def parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
    """Apple's JWKS: its RSA signing keys by kid (other keys are ignored)."""
    try:
        document = msgspec.json.decode(body, type=_Jwks)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a JWKS: {exc}") from None
    keys: dict[str, jwt.PyJWK] = {}
    for key in document.keys:
        if key.kty != "RSA" or key.alg != "RS256" or key.use != "sig":
            continue
        try:
            keys[key.kid] = jwt.PyJWK(msgspec.structs.asdict(key), algorithm="RS256")
        except jwt.PyJWTError:
            continue
    if not keys:
        raise ValueError("no RS256 signing key")
    return keys


def refused(code: str) -> Unauthorized:
    messages = {
        "APPLE_TOKEN_INVALID": "The Apple identity token is not valid for CookCam; sign in with Apple again.",
        "APPLE_TOKEN_EXPIRED": "The Apple identity token has expired; sign in with Apple again.",
        "APPLE_NONCE_MISMATCH": "The Apple identity token was not issued for this sign-in (nonce); try again.",
    }
    return Unauthorized(code, messages[code])


def nonce_digest(nonce: str) -> str:
    """What Apple puts in the token's `nonce` when the app passes sha256(nonce) hex as the request's nonce."""
    return hashlib.sha256(nonce.encode()).hexdigest()


class AppleSignIn:
    """Verifies Apple identity tokens and notification payloads; the HTTP client belongs to the caller."""

    def __init__(self, apple: AppleSettings, outbound: OutboundSettings, http: httpx.AsyncClient) -> None:
        self._audiences = [apple.bundle_id, *apple.signin_service_ids]
        self._keys = SigningKeys(
            "Apple", apple.signin_keys_url, parse_jwks, http, outbound, unavailable_code="APPLE_SIGNIN_UNAVAILABLE"
        )

    async def verified_claims(self, token: str, *, require_exp: bool = True) -> Mapping[str, Any]:
        """The claims of a JWT Apple signed for us (RS256 with a key of Apple's JWKS, our audience, Apple's issuer,
        a past `iat`, and an `exp` to come unless `require_exp` is false); 401 APPLE_TOKEN_INVALID or _EXPIRED."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refused("APPLE_TOKEN_INVALID") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise refused("APPLE_TOKEN_INVALID")
        keys = await self._keys.keys(kid)
        if kid not in keys:
            raise refused("APPLE_TOKEN_INVALID")
        required = ["iss", "aud", "iat", *(["exp"] if require_exp else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                keys[kid],
                algorithms=["RS256"],
                audience=self._audiences,
                issuer=APPLE_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError:
            raise refused("APPLE_TOKEN_EXPIRED") from None
        except jwt.PyJWTError:  # signature, audience, issuer, iat, format: one code, the detail stays out of logs
            raise refused("APPLE_TOKEN_INVALID") from None
        return claims

    async def verify(self, identity_token: str, nonce: str | None, name: str | None) -> VerifiedIdentity:
        """The identity an Apple identity token proves. With `nonce` (what the app generated, before hashing),
        the token's `nonce` claim must be its sha256 hex (401 APPLE_NONCE_MISMATCH)."""
        claims = await self.verified_claims(identity_token)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT_LENGTH:
            raise refused("APPLE_TOKEN_INVALID")
        if nonce is not None:
            claimed = claims.get("nonce")
            if not isinstance(claimed, str) or not hmac.compare_digest(claimed, nonce_digest(nonce)):
                raise refused("APPLE_NONCE_MISMATCH")
        email = email_claim(claims.get("email"))
        return VerifiedIdentity(
            provider="apple",
            subject=subject,
            email=email,
            email_verified=bool_claim(claims.get("email_verified")),
            issued_at=issued_at_claim(claims),
            private_relay=bool_claim(claims.get("is_private_email")) or is_private_relay(email),
            name=name,
        )
