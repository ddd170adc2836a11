"""Sign in with Google: an ID token from Google Sign-In, verified the way google-auth's `verify_oauth2_token` does
(RS256 against Google's certificates, `exp`/`iat`, `aud` among our OAuth client ids, `iss` accounts.google.com),
with the certificates fetched by us (GOOGLE_OIDC_CERTS_URL, cached per Cache-Control) rather than by google-auth's
blocking transport. https://developers.google.com/identity/sign-in/android/backend-auth"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import google.auth.jwt
import httpx
import msgspec

from app.auth.social import VerifiedIdentity, bool_claim, email_claim, issued_at_claim
from app.core.errors import ServiceUnavailable, Unauthorized
from app.core.signing_keys import SigningKeys
from app.settings import GoogleSettings, OutboundSettings

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Allowed difference between our clock and Google's for exp and iat.
CLOCK_SKEW_SECONDS = 60
MAX_SUBJECT_LENGTH = 255


def parse_certificates(body: bytes) -> dict[str, str]:
    """Google's v1 certs document: {kid: PEM X.509 certificate}."""
    try:
        certs = msgspec.json.decode(body, type=dict[str, str])
    except msgspec.DecodeError as exc:
        raise ValueError(f"not Google's certificates: {exc}") from None
    if not certs:
        raise ValueError("no certificates")
    return certs


def _refused(code: str = "GOOGLE_TOKEN_INVALID") -> Unauthorized:
    messages = {
        "GOOGLE_TOKEN_INVALID": "The Google ID token is not valid for CookCam; sign in with Google again.",
        "GOOGLE_TOKEN_EXPIRED": "The Google ID token has expired; sign in with Google again.",
    }
    return Unauthorized(code, messages[code])


def _expired(token: str) -> bool:
    """Whether a token that failed verification had simply expired (read only to choose the refusal's code)."""
    try:
        claims = google.auth.jwt.decode(token, verify=False)  # type: ignore[no-untyped-call]
        return isinstance(claims, Mapping) and float(claims["exp"]) + CLOCK_SKEW_SECONDS < time.time()
    except Exception:  # anything unreadable is simply not "expired"
        return False


class GoogleSignIn:
    """Verifies Google ID tokens; the HTTP client belongs to the caller."""

    def __init__(self, google_settings: GoogleSettings, outbound: OutboundSettings, http: httpx.AsyncClient) -> None:
        self._client_ids = list(google_settings.signin_client_ids)
        self._certificates = SigningKeys(
            "Google",
            google_settings.oidc_certs_url,
            parse_certificates,
            http,
            outbound,
            unavailable_code="GOOGLE_SIGNIN_UNAVAILABLE",
        )

    async def verify(self, id_token: str) -> VerifiedIdentity:
        """The identity a Google ID token proves; 401 GOOGLE_TOKEN_INVALID or GOOGLE_TOKEN_EXPIRED otherwise."""
        if not self._client_ids:
            raise ServiceUnavailable("GOOGLE_SIGNIN_UNCONFIGURED", "Sign in with Google is not set up on this server.")
        try:
            header = google.auth.jwt.decode_header(id_token)  # type: ignore[no-untyped-call]
        except Exception:  # a malformed token raises whatever its parsing hits
            raise _refused() from None
        kid = header.get("kid") if isinstance(header, Mapping) else None
        if not isinstance(kid, str) or header.get("alg") != "RS256":
            raise _refused()
        certificates = await self._certificates.keys(kid)
        if kid not in certificates:
            raise _refused()
        try:
            claims: Mapping[str, Any] = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                id_token,
                certs={kid: certificates[kid]},
                audience=self._client_ids,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except Exception:  # signature, expiry, audience and format failures alike; their detail stays out of logs
            raise _refused("GOOGLE_TOKEN_EXPIRED" if _expired(id_token) else "GOOGLE_TOKEN_INVALID") from None
        subject = claims.get("sub")
        if (
            claims.get("iss") not in GOOGLE_ISSUERS
            or not isinstance(subject, str)
            or not 1 <= len(subject) <= MAX_SUBJECT_LENGTH
        ):
            raise _refused()
        name = claims.get("name")
        return VerifiedIdentity(
            provider="google",
            subject=subject,
            email=email_claim(claims.get("email")),
            email_verified=bool_claim(claims.get("email_verified")),
            issued_at=issued_at_claim(claims),
            name=name if isinstance(name, str) else None,
        )
