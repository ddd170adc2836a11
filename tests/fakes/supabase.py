"""A loopback fake of a Supabase project's Auth signing keys: GET /auth/v1/.well-known/jwks.json publishes an EC
P-256 (ES256) and an RSA-2048 (RS256) public key generated here, and `access_token` mints access tokens with the
claims Supabase Auth puts in them (https://supabase.com/docs/guides/auth/jwt-fields): iss, sub, aud
"authenticated", exp, iat, role, session_id, email, aal, is_anonymous. It can also sign with a key it never
publishes ("stranger"), or with a project's legacy HS256 secret.

    with fake_supabase() as supabase:
        token = supabase.access_token(user_id, signer="es256")
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.fakes.loopback import QuietHandler, serving

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
HS256_SECRET = "supabase-legacy-jwt-secret-for-tests-only-0123456789"
Signer = Literal["es256", "rs256", "hs256", "stranger"]


@dataclass
class FakeSupabase:
    base_url: str = ""
    es256_kid: str = field(default_factory=lambda: f"ec-{uuid.uuid4().hex[:8]}")
    rs256_kid: str = field(default_factory=lambda: f"rsa-{uuid.uuid4().hex[:8]}")
    fetches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._ec = ec.generate_private_key(ec.SECP256R1())
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._stranger = ec.generate_private_key(ec.SECP256R1())

    @property
    def jwks_url(self) -> str:
        return self.base_url + JWKS_PATH

    @property
    def issuer(self) -> str:
        return self.base_url + "/auth/v1"

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self._ec.public_key()))
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self._rsa.public_key()))
        return {
            "keys": [
                {**ec_jwk, "kid": self.es256_kid, "alg": "ES256", "use": "sig", "key_ops": ["verify"]},
                {**rsa_jwk, "kid": self.rs256_kid, "alg": "RS256", "use": "sig", "key_ops": ["verify"]},
            ]
        }

    def public_rsa_pem(self) -> bytes:
        return self._rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(
        self,
        user_id: uuid.UUID | str,
        *,
        session_id: uuid.UUID | str | None = None,
        expires_in: int = 3600,
        issued_at: float | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        now = int(time.time() if issued_at is None else issued_at)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": str(user_id),
            "aud": "authenticated",
            "exp": now + expires_in,
            "iat": now,
            "email": "cook@example.com",
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": str(session_id or uuid.uuid4()),
            "is_anonymous": False,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], signer: Signer = "es256") -> str:
        if signer == "es256":
            return jwt.encode(claims, self._ec, algorithm="ES256", headers={"kid": self.es256_kid})
        if signer == "rs256":
            return jwt.encode(claims, self._rsa, algorithm="RS256", headers={"kid": self.rs256_kid})
        if signer == "stranger":
            return jwt.encode(claims, self._stranger, algorithm="ES256", headers={"kid": self.es256_kid})
        return jwt.encode(claims, HS256_SECRET, algorithm="HS256")

    def access_token(self, user_id: uuid.UUID | str, signer: Signer = "es256", **claims: Any) -> str:
        return self.sign(self.claims(user_id, **claims), signer)


@contextmanager
def fake_supabase() -> Iterator[FakeSupabase]:
    fake = FakeSupabase()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path != JWKS_PATH:
                self.reply(404, b'{"error":"not found"}')
                return
            with fake._lock:
                fake.fetches += 1
            self.reply(200, json.dumps(fake.jwks()).encode(), headers={"Cache-Control": "public, max-age=600"})

    with serving(Handler) as base_url:
        fake.base_url = base_url
        yield fake
