"""The App Store verifier that parses a JWS once (app/billing/stores/apple/decoding.py): it accepts and refuses
exactly what the library's own verifier does, with one parse fewer."""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException, VerificationStatus
from jwt.api_jws import PyJWS

from app.billing.stores.apple import chains
from app.billing.stores.apple.decoding import SingleParseVerifier
from tests.fakes.apple import BUNDLE_ID, AppleSigner

# sha256 of the library's SignedDataVerifier._decode_signed_object (app-store-server-library as pinned by uv.lock).
LIBRARY_DECODE_SHA256 = "184531bba47eea12dd41461bef63eb76e8db54a8233080f132b4226c1419c875"


def test_the_library_method_it_replaces_is_the_one_it_was_written_against() -> None:
    source = inspect.getsource(SignedDataVerifier._decode_signed_object)
    assert hashlib.sha256(source.encode()).hexdigest() == LIBRARY_DECODE_SHA256, (
        "app-store-server-library changed _decode_signed_object: align SingleParseVerifier, then update the hash"
    )


def _with_header(signed: str, **changes: Any) -> str:
    """`signed` with its header's fields changed (None removes one); the signature no longer matches."""
    header_segment, payload, signature = signed.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4)))
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{payload}.{signature}"


SIGNER, STRANGER = AppleSigner(), AppleSigner()
CASES: dict[str, Callable[[], str]] = {
    "valid": lambda: SIGNER.sign(SIGNER.transaction()),
    "no signed date (checked now)": lambda: SIGNER.sign(SIGNER.transaction(signedDate=None)),
    "another root": lambda: STRANGER.sign(STRANGER.transaction()),
    "another payload": lambda: ".".join(
        (*SIGNER.sign(SIGNER.transaction()).split(".")[:1], SIGNER.sign(SIGNER.transaction()).split(".")[1], "AAAA")
    ),
    "no x5c": lambda: _with_header(SIGNER.sign(SIGNER.transaction()), x5c=None),
    "empty x5c": lambda: _with_header(SIGNER.sign(SIGNER.transaction()), x5c=[]),
    "another algorithm": lambda: _with_header(SIGNER.sign(SIGNER.transaction()), alg="HS256"),
    "a non-string kid": lambda: _with_header(SIGNER.sign(SIGNER.transaction()), kid=7),
    "another bundle": lambda: SIGNER.sign(SIGNER.transaction(bundleId="com.example.other")),
    "another environment": lambda: SIGNER.sign(SIGNER.transaction(environment="Production")),
    "another transaction's signature": lambda: ".".join(
        (*SIGNER.sign(SIGNER.transaction()).split(".")[:2], SIGNER.sign(SIGNER.transaction()).split(".")[2])
    ),
    "a signature cut short": lambda: SIGNER.sign(SIGNER.transaction())[:-3],  # the compact form ends with it
    # Claims PyJWT checks when present (Apple sends none, and the fake's fields do not include them): verified by
    # PyJWT's own decode, which checks them.
    "an expired exp": lambda: SIGNER.sign({**SIGNER.transaction(), "exp": 1}),
    "a future exp (accepted)": lambda: SIGNER.sign({**SIGNER.transaction(), "exp": 4_102_444_800}),
    "an aud nobody asked for": lambda: SIGNER.sign({**SIGNER.transaction(), "aud": "someone"}),
    "a non-string sub": lambda: SIGNER.sign({**SIGNER.transaction(), "sub": 5}),
    "not a JWS": lambda: "not.a.jws",
    "two segments": lambda: "e30.e30",
}


def _outcome(verifier: SignedDataVerifier, signed: str) -> object:
    try:
        return verifier.verify_and_decode_signed_transaction(signed)
    except VerificationException as exc:
        return exc.status


@pytest.mark.parametrize("case", list(CASES))
def test_it_accepts_and_refuses_what_the_library_does(case: str) -> None:
    roots = [SIGNER.root_der]
    ours = chains.install(SingleParseVerifier(roots, False, Environment.SANDBOX, BUNDLE_ID), roots)
    library = SignedDataVerifier(roots, False, Environment.SANDBOX, BUNDLE_ID)
    signed = CASES[case]()
    expected = _outcome(library, signed)
    assert _outcome(ours, signed) == expected
    accepted = case in ("valid", "no signed date (checked now)", "a future exp (accepted)")
    assert isinstance(expected, VerificationStatus) != accepted


def test_it_parses_the_jws_once_where_the_library_parses_it_three_times(monkeypatch: pytest.MonkeyPatch) -> None:
    roots = [SIGNER.root_der]
    ours = SingleParseVerifier(roots, False, Environment.SANDBOX, BUNDLE_ID)
    library = SignedDataVerifier(roots, False, Environment.SANDBOX, BUNDLE_ID)
    signed = SIGNER.sign(SIGNER.transaction())
    parses = 0
    load = PyJWS._load

    def counted(self: PyJWS, token: str | bytes) -> Any:
        nonlocal parses
        parses += 1
        return load(self, token)

    monkeypatch.setattr(PyJWS, "_load", counted)  # PyJWT's parser, to count its calls
    library.verify_and_decode_signed_transaction(signed)
    assert parses == 3
    parses = 0
    ours.verify_and_decode_signed_transaction(signed)
    assert parses == 1
    parses = 0
    ours.verify_and_decode_signed_transaction(SIGNER.sign({**SIGNER.transaction(), "exp": 4_102_444_800}))
    assert parses == 2  # a claim PyJWT checks: its verified decode parses again
