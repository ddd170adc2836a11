"""The cache of verified App Store certificate chains (app/billing/stores/apple/chains.py): a chain is verified once
per validity interval, and everything the library refuses is still refused."""

from __future__ import annotations

import datetime as dt

import pytest
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException

from app.billing.stores.apple import chains
from tests.fakes.apple import AppleSigner, now_ms

BUNDLE = "app.cookcam.ios"


def caching_verifier(*signers: AppleSigner) -> tuple[SignedDataVerifier, chains.CachingChainVerifier]:
    roots = [signer.root_der for signer in signers]
    verifier = chains.install(SignedDataVerifier(roots, False, Environment.SANDBOX, BUNDLE), roots)
    chain_verifier = verifier._chain_verifier
    assert isinstance(chain_verifier, chains.CachingChainVerifier)  # the library still has the attribute we replace
    return verifier, chain_verifier


def test_a_chain_is_verified_once_and_each_signature_still_checked() -> None:
    signer = AppleSigner()
    verifier, cache = caching_verifier(signer)
    first, second = signer.transaction(), signer.transaction()
    assert verifier.verify_and_decode_signed_transaction(signer.sign(first)).transactionId == first["transactionId"]
    assert verifier.verify_and_decode_signed_transaction(signer.sign(second)).transactionId == second["transactionId"]
    assert len(cache) == 1

    header, _, signature = signer.sign(first).split(".")
    other_payload = signer.sign(second).split(".")[1]
    with pytest.raises(VerificationException):  # a known chain does not vouch for a payload it did not sign
        verifier.verify_and_decode_signed_transaction(f"{header}.{other_payload}.{signature}")


def test_a_moment_outside_the_chains_validity_is_refused_even_once_the_chain_is_known() -> None:
    signer = AppleSigner(backdate=dt.timedelta(days=1))
    verifier, cache = caching_verifier(signer)
    verifier.verify_and_decode_signed_transaction(signer.sign(signer.transaction()))
    assert len(cache) == 1
    before_the_certificates = now_ms() - 2 * 86_400_000
    with pytest.raises(VerificationException):
        verifier.verify_and_decode_signed_transaction(
            signer.sign(signer.transaction(signedDate=before_the_certificates))
        )


def test_a_chain_that_does_not_lead_to_a_configured_root_is_refused_and_not_remembered() -> None:
    trusted, stranger = AppleSigner(), AppleSigner()
    verifier, cache = caching_verifier(trusted)
    verifier.verify_and_decode_signed_transaction(trusted.sign(trusted.transaction()))
    with pytest.raises(VerificationException):
        verifier.verify_and_decode_signed_transaction(stranger.sign(stranger.transaction()))
    assert len(cache) == 1


def test_the_cache_is_bounded() -> None:
    signers = [AppleSigner() for _ in range(chains.MAX_CHAINS + 2)]
    verifier, cache = caching_verifier(*signers)
    for signer in signers:
        verifier.verify_and_decode_signed_transaction(signer.sign(signer.transaction()))
    assert len(cache) == chains.MAX_CHAINS
    # the oldest was evicted and is verified in full again, successfully
    assert verifier.verify_and_decode_signed_transaction(signers[0].sign(signers[0].transaction())).bundleId == BUNDLE


def test_a_jws_is_verified_before_only_offline_and_once_its_exact_chain_was_verified() -> None:
    """What decides whether a validation's verification may run on the event loop (app/billing/stores/apple/
    storekit.py): only the signature is left to check then."""
    signer, stranger = AppleSigner(), AppleSigner()
    verifier, _ = caching_verifier(signer, stranger)
    signed = signer.sign(signer.transaction())
    assert not chains.verified_before(verifier, signed)  # its chain is not known yet: a thread verifies it
    verifier.verify_and_decode_signed_transaction(signed)
    assert chains.verified_before(verifier, signer.sign(signer.transaction()))  # another JWS, the same chain
    assert not chains.verified_before(verifier, stranger.sign(stranger.transaction()))  # another chain
    assert not chains.verified_before(verifier, "not-base64!.x.y")
    assert not chains.verified_before(verifier, "e30.x.y")  # `{}`: no x5c at all

    roots = [signer.root_der]
    online = chains.install(SignedDataVerifier(roots, True, Environment.SANDBOX, BUNDLE), roots)
    online._chain_verifier = verifier._chain_verifier  # the same known chain: online checks still call out
    assert not chains.verified_before(online, signed)
