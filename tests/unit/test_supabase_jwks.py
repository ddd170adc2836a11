"""Supabase's published keys: only EC and RSA signing keys with a kid are kept, each with its own algorithm, so no
symmetric or encryption key ever verifies a token."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.core.supabase_tokens import parse_jwks


def test_only_signing_keys_of_supabase_algorithms_are_kept() -> None:
    ec_key = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    rsa_key = json.loads(
        RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    )
    document = {
        "keys": [
            {**ec_key, "kid": "ec", "alg": "ES256", "use": "sig"},
            {**rsa_key, "kid": "rsa"},
            {**rsa_key, "kid": "enc", "use": "enc"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
            {**ec_key},  # no kid
            {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AAAA"},
        ]
    }
    keys = parse_jwks(json.dumps(document).encode())
    assert {kid: key.algorithm_name for kid, key in keys.items()} == {"ec": "ES256", "rsa": "RS256"}
    assert isinstance(keys["ec"], jwt.PyJWK)


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"keys": []}', b'{"keys": [{"kty": "oct", "kid": "a", "k": "YQ"}]}']
)
def test_a_document_without_a_usable_key_is_unreadable(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_jwks(body)
