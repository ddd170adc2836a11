"""Remembering App Store certificate chains already verified, so that a request pays for the JWS signature only.

Every StoreKit 2 JWS carries its chain (leaf, Apple's intermediate, root) in the x5c header, and the chain is the
same for every transaction Apple signs with one key. `app-store-server-library` verifies that chain on every call
(about half of a validation's CPU) and caches the result only when online (OCSP) checks are on.

Without online checks the library checks the chain at the data's own `signedDate`, and the outcome depends only on
the exact chain, the configured roots and that moment: a chain verified once is good for every moment inside the
validity of all its certificates (leaf, intermediate and the configured root that issued the intermediate). So the
cache keeps, per exact chain, the leaf's public key and that interval; a moment outside it is verified in full again
(and refused as the library would). With online checks the library's own cache applies unchanged: its entries last
15 minutes, the lifetime it gives a revocation answer.

The library exposes no hook for this, so `install` replaces the private `_chain_verifier` of a `SignedDataVerifier`
with a subclass of the library's own `_ChainVerifier` (pinned by uv.lock; tests/unit/test_apple_chains.py fails if
the library's shape changes).
"""

from __future__ import annotations

import threading
from base64 import b64decode, urlsafe_b64decode
from collections import OrderedDict
from typing import NamedTuple

import msgspec
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, _ChainVerifier
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MAX_CHAINS = 64  # Apple signs with a handful of keys at a time; a bound keeps forged chains from growing memory


class VerifiedChain(NamedTuple):
    public_key: EllipticCurvePublicKey
    valid_from: float  # UNIX seconds: the latest notBefore of the chain's certificates
    valid_until: float  # the earliest notAfter


class CachingChainVerifier(_ChainVerifier):
    """The library's chain verifier with a bounded cache of offline verifications, keyed by the exact chain."""

    def __init__(self, root_certificates: list[bytes]) -> None:
        super().__init__(root_certificates)
        self._roots = [x509.load_der_x509_certificate(root) for root in root_certificates]
        self._verified: OrderedDict[tuple[str, ...], VerifiedChain] = OrderedDict()
        self._lock = threading.Lock()  # verification runs in worker threads and on the event loop

    def __len__(self) -> int:
        return len(self._verified)

    def knows(self, certificates: tuple[str, ...]) -> bool:
        with self._lock:
            return certificates in self._verified

    def verify_chain(  # type: ignore[override]  # returns a key object, which PyJWT takes like the PEM text
        self, certificates: list[str], perform_online_checks: bool, effective_date: int
    ) -> EllipticCurvePublicKey | str:
        if perform_online_checks:
            return super().verify_chain(certificates, perform_online_checks, effective_date)
        key = tuple(certificates)
        with self._lock:
            known = self._verified.get(key)
            if known is not None:
                self._verified.move_to_end(key)
        if known is not None and known.valid_from <= effective_date <= known.valid_until:
            return known.public_key
        pem = self._verify_chain_without_caching(
            certificates=certificates, perform_online_checks=False, effective_date=effective_date
        )
        verified = VerifiedChain(load_pem_public_key(pem.encode()), *self._validity(certificates))  # type: ignore[arg-type]
        with self._lock:
            self._verified[key] = verified
            self._verified.move_to_end(key)
            while len(self._verified) > MAX_CHAINS:
                self._verified.popitem(last=False)
        return verified.public_key

    def _validity(self, certificates: list[str]) -> tuple[float, float]:
        """The interval in which every certificate of the verified chain is valid (the chain's own root is not
        used by the verification: the configured root that issued the intermediate is)."""
        leaf, intermediate = (x509.load_der_x509_certificate(b64decode(c)) for c in certificates[:2])
        issuers = [root for root in self._roots if root.subject == intermediate.issuer]
        chain = [leaf, intermediate, *issuers]
        return (
            max(cert.not_valid_before_utc for cert in chain).timestamp(),
            min(cert.not_valid_after_utc for cert in chain).timestamp(),
        )


def install(verifier: SignedDataVerifier, root_certificates: list[bytes]) -> SignedDataVerifier:
    """`verifier`, now remembering the chains it verified offline."""
    verifier._chain_verifier = CachingChainVerifier(root_certificates)
    return verifier


class _Header(msgspec.Struct):
    x5c: list[str] = []


def verified_before(verifier: SignedDataVerifier, signed: str) -> bool:
    """Whether `verifier` checks `signed` offline against a chain it has verified before: only the JWS signature is
    left to check then (about 0.3 ms with the parse), less than a worker thread's round trip costs. A chain not seen
    yet, online checks (network calls) or a header that does not parse answer False, for a thread. The header is
    decoded here with the standard library, not PyJWT, whose character checks cost most of a parse."""
    chain_verifier = verifier._chain_verifier
    if verifier._enable_online_checks or not isinstance(chain_verifier, CachingChainVerifier):
        return False
    segment = signed.partition(".")[0]
    try:
        header = msgspec.json.decode(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), type=_Header)
    except (ValueError, msgspec.DecodeError):  # binascii.Error is a ValueError
        return False
    return chain_verifier.knows(tuple(header.x5c))
