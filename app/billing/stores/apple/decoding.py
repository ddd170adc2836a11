"""Parsing an App Store JWS once where `app-store-server-library` parses it three times.

The library's `SignedDataVerifier._decode_signed_object` decodes the JWS unverified (`jwt.decode`), then again for its
header (`jwt.get_unverified_header`), then a third time to verify it. Each parse base64-decodes the header, whose x5c
chain is about 3 kB, and PyJWT checks every character of each segment in Python: about 0.25 ms a parse, most of a
validation's verification time (the signature itself takes about 0.13 ms). `SingleParseVerifier` takes the header
and the payload from one unverified parse (`jwt.decode_complete`, which validates the header as
`get_unverified_header` does) and keeps every check in the library's order: the x5c header, the algorithm, the chain
at the data's signed date (through the verifier's chain verifier, app/billing/stores/apple/chains.py), then the
signature over the same segments, with PyJWT's own ES256 algorithm, as PyJWT's verified decode checks it. That decode
also checks the registered claims it finds (`exp`, `nbf`, `iat`, `aud`, `sub`, `jti`); the App Store's payloads
carry none, and a payload that does is verified by PyJWT's verified decode as before. The rest of the library
(bundle id, environment, app id) is unchanged. The method it replaces is pinned by tests/unit/test_apple_decoding.py,
which also compares both verifiers' answers: a library update that changes it fails that test.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException, VerificationStatus
from jwt.algorithms import ECAlgorithm

UNSIGNED_ENVIRONMENTS = (Environment.XCODE, Environment.LOCAL_TESTING)
ES256 = ECAlgorithm(ECAlgorithm.SHA256)
# What PyJWT's verified decode checks in a payload besides the signature, when present (asked for no audience,
# issuer or subject, as the library asks).
CLAIMS_PYJWT_CHECKS = frozenset({"exp", "nbf", "iat", "aud", "sub", "jti"})


class SingleParseVerifier(SignedDataVerifier):
    """The library's verifier, parsing the JWS once and checking its signature over the segments it parsed."""

    def _decode_signed_object(self, signed_obj: str) -> dict[str, Any]:
        if self._environment in UNSIGNED_ENVIRONMENTS:
            # Not signed by the App Store: the library's own path (the public methods check the environment).
            return super()._decode_signed_object(signed_obj)
        try:
            unverified = jwt.decode_complete(signed_obj, options={"verify_signature": False})
            headers: dict[str, Any] = unverified["header"]
            decoded: dict[str, Any] = unverified["payload"]
            x5c_header = headers.get("x5c")
            if x5c_header is None or len(x5c_header) == 0:
                raise Exception("x5c claim was empty")  # the library's own refusals, turned into its status below
            if headers.get("alg") != "ES256":
                raise Exception("Algorithm was not ES256")
            signed_date = decoded.get("signedDate")
            if signed_date is None:
                signed_date = decoded.get("receiptCreationDate")
            online = self._enable_online_checks
            effective_date = time.time() if online or signed_date is None else int(signed_date) // 1000
            # The library passes time.time() as well, against its own annotation.
            signing_key = self._chain_verifier.verify_chain(x5c_header, online, effective_date)  # type: ignore[arg-type]
            if not CLAIMS_PYJWT_CHECKS.isdisjoint(decoded):
                return jwt.decode(signed_obj, signing_key, algorithms=["ES256"])
            signing_input = signed_obj.encode().rpartition(b".")[0]  # the segments the payload was decoded from
            if not ES256.verify(signing_input, ES256.prepare_key(signing_key), unverified["signature"]):
                raise Exception("Signature verification failed")
            return decoded
        except VerificationException:
            raise
        except Exception as exc:
            raise VerificationException(VerificationStatus.VERIFICATION_FAILURE) from exc
