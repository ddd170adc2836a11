from __future__ import annotations

import time
import uuid

import jwt
import pytest

from app.core.errors import Unauthorized
from app.core.tokens import AccessTokenValidator, bearer_token, hash_refresh_token, new_refresh_token
from app.settings import JwtSettings

SETTINGS = JwtSettings(secret="s" * 40, key_id="k2", previous_secret="o" * 40, previous_key_id="k1")


def _code(token: str) -> str:
    with pytest.raises(Unauthorized) as raised:
        AccessTokenValidator(SETTINGS).validate(token)
    return raised.value.code


def test_issued_token_round_trips_with_kid() -> None:
    validator = AccessTokenValidator(SETTINGS)
    user, session = uuid.uuid4(), uuid.uuid4()
    token = validator.issue(user, session)
    assert jwt.get_unverified_header(token)["kid"] == "k2"
    claims = validator.validate(token)
    assert (claims.user_id, claims.session_id) == (user, session)
    assert claims.expires_at - time.time() == pytest.approx(900, abs=5)


def test_previous_key_is_accepted_and_unknown_kid_refused() -> None:
    old = AccessTokenValidator(JwtSettings(secret="o" * 40, key_id="k1"))
    token = old.issue(uuid.uuid4(), uuid.uuid4())
    assert AccessTokenValidator(SETTINGS).validate(token)
    stranger = AccessTokenValidator(JwtSettings(secret="z" * 40, key_id="k9")).issue(uuid.uuid4(), uuid.uuid4())
    assert _code(stranger) == "TOKEN_INVALID"


def test_forged_signature_with_known_kid_is_refused() -> None:
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iss": "cookcam-api", "iat": 1, "exp": 2**40},
        "attacker-secret-attacker-secret-attacker",
        algorithm="HS256",
        headers={"kid": "k2"},
    )
    assert _code(forged) == "TOKEN_INVALID"


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iss": "cookcam-api", "iat": 1, "exp": 2**40},
        None,
        algorithm="none",
        headers={"kid": "k2"},
    )
    assert _code(unsigned) == "TOKEN_INVALID"


def test_expired_and_malformed_tokens() -> None:
    validator = AccessTokenValidator(SETTINGS)
    expired = validator.issue(uuid.uuid4(), uuid.uuid4(), now=time.time() - 901)
    assert _code(expired) == "TOKEN_EXPIRED"
    assert _code("not.a.jwt") == "TOKEN_INVALID"
    assert _code("") == "TOKEN_INVALID"


def test_missing_claims_and_wrong_issuer_are_refused() -> None:
    no_sid = jwt.encode(
        {"sub": str(uuid.uuid4()), "iss": "cookcam-api", "iat": 1, "exp": 2**40},
        "s" * 40,
        algorithm="HS256",
        headers={"kid": "k2"},
    )
    assert _code(no_sid) == "TOKEN_INVALID"
    other_issuer = jwt.encode(
        {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iss": "elsewhere", "iat": 1, "exp": 2**40},
        "s" * 40,
        algorithm="HS256",
        headers={"kid": "k2"},
    )
    assert _code(other_issuer) == "TOKEN_INVALID"
    bad_sub = jwt.encode(
        {"sub": "nope", "sid": "nope", "iss": "cookcam-api", "iat": 1, "exp": 2**40},
        "s" * 40,
        algorithm="HS256",
        headers={"kid": "k2"},
    )
    assert _code(bad_sub) == "TOKEN_INVALID"


def test_refresh_tokens_are_random_and_hashed() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first != second and len(first) >= 43
    assert hash_refresh_token(first) == hash_refresh_token(first)
    assert len(hash_refresh_token(first)) == 32


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None)],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_remembered_token_still_expires() -> None:
    validator = AccessTokenValidator(SETTINGS)
    token = validator.issue(uuid.uuid4(), uuid.uuid4())
    claims = validator.validate(token)
    assert validator.validate(token) == claims  # second call answered from the verified-token cache
    with pytest.raises(Unauthorized) as raised:
        validator.validate(token, now=claims.expires_at + 1)
    assert raised.value.code == "TOKEN_EXPIRED"


def test_tampered_copy_of_a_remembered_token_is_refused() -> None:
    validator = AccessTokenValidator(SETTINGS)
    token = validator.issue(uuid.uuid4(), uuid.uuid4())
    validator.validate(token)
    header, _payload, signature = token.split(".")
    other_payload = AccessTokenValidator(SETTINGS).issue(uuid.uuid4(), uuid.uuid4()).split(".")[1]
    assert _code(f"{header}.{other_payload}.{signature}") == "TOKEN_INVALID"
