"""A loopback fake of Sign in with Apple's public keys, and the tokens Apple signs with them:

* GET /auth/keys - Apple's JWKS, `{"keys": [{"kty": "RSA", "kid", "use": "sig", "alg": "RS256", "n", "e"}]}`, with
  a Cache-Control max-age ("Fetch Apple's public key for verifying token signature",
  https://developer.apple.com/documentation/signinwithapplerestapi/fetch_apple_s_public_key_for_verifying_token_signature).
* `identity_token(...)`: an identity token as the app receives it from ASAuthorizationAppleIDCredential, with the
  claims Apple documents ("Authenticating users with Sign in with Apple"): iss https://appleid.apple.com, aud (the
  bundle id or a Services ID), exp, iat, sub, nonce (the sha256 hex of the app's nonce), nonce_supported, email,
  email_verified and is_private_email (Apple sends these as the strings "true"/"false" or as booleans),
  auth_time, real_user_status.
* `notification(...)`: the `payload` JWT of a server-to-server notification ("Processing changes for Sign in with
  Apple accounts"): iss, aud, iat, jti, and `events` as a JSON string {type, sub, event_time, email?,
  is_private_email?}.

Real RS256 with RSA-2048 keys generated per fake; `rotate()` publishes a new key (the old one stays listed), and
`stranger` signs with a key Apple never published."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.loopback import QuietHandler, serving

ISSUER = "https://appleid.apple.com"


def _b64_uint(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def _key() -> tuple[str, rsa.RSAPrivateKey]:
    return secrets.token_hex(5).upper(), rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeAppleId:
    def __init__(self) -> None:
        self.base_url = ""
        self.max_age = 86400
        self.keys_fetches = 0
        self.fail_with: int | None = None  # answer /auth/keys with this status while set
        self._lock = threading.Lock()
        self._keys = [_key()]
        self._unpublished = _key()  # the "stranger"

    @property
    def keys_url(self) -> str:
        return f"{self.base_url}/auth/keys"

    @property
    def kid(self) -> str:
        return self._keys[-1][0]

    def rotate(self) -> str:
        """Publish a new signing key (tokens from now on use it); the previous ones stay listed."""
        with self._lock:
            self._keys.append(_key())
        return self.kid

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys)
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": kid,
                    "use": "sig",
                    "alg": "RS256",
                    "n": _b64_uint(key.public_key().public_numbers().n),
                    "e": _b64_uint(key.public_key().public_numbers().e),
                }
                for kid, key in keys
            ]
        }

    def sign(self, claims: dict[str, Any], *, signer: Literal["apple", "stranger"] = "apple", kid: str = "") -> str:
        key = self._keys[-1][1] if signer == "apple" else self._unpublished[1]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid or self.kid})

    def identity_token(
        self,
        *,
        audience: str,
        subject: str,
        email: str | None = None,
        email_verified: bool | str = "true",
        is_private_email: bool | str | None = None,
        nonce: str | None = None,
        issuer: str = ISSUER,
        expires_in: int = 600,
        signer: Literal["apple", "stranger"] = "apple",
        kid: str = "",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "exp": now + expires_in,
            "iat": min(now, now + expires_in - 600),
            "sub": subject,
            "c_hash": secrets.token_urlsafe(16),
            "auth_time": now,
            "nonce_supported": True,
            "real_user_status": 2,
        }
        if email is not None:
            claims |= {"email": email, "email_verified": email_verified}
            if is_private_email is not None:
                claims["is_private_email"] = is_private_email
        if nonce is not None:
            claims["nonce"] = nonce
        claims |= extra
        return self.sign(claims, signer=signer, kid=kid)

    def notification(
        self,
        *,
        audience: str,
        event: dict[str, Any],
        issuer: str = ISSUER,
        signer: Literal["apple", "stranger"] = "apple",
        iat: int | None = None,
    ) -> str:
        claims = {
            "iss": issuer,
            "aud": audience,
            "iat": iat if iat is not None else int(time.time()),
            "jti": secrets.token_hex(8),
            "events": json.dumps(event),
        }
        return self.sign(claims, signer=signer)

    def handle(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if path != "/auth/keys":
            return 404, b'{"error":"not_found"}', {}
        with self._lock:
            self.keys_fetches += 1
        if self.fail_with is not None:
            return self.fail_with, b"unavailable", {}
        return 200, json.dumps(self.jwks()).encode(), {"Cache-Control": f"max-age={self.max_age}"}


@contextmanager
def fake_apple_id() -> Iterator[FakeAppleId]:
    apple = FakeAppleId()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            status, body, headers = apple.handle(self.path)
            self.reply(status, body, headers=headers)

    with serving(Handler) as base_url:
        apple.base_url = base_url
        yield apple
