"""Raw purchase proofs (receipts, signed transactions, purchase tokens) kept for forensics, AES-256-GCM encrypted.

Keys come from BILLING_RECEIPT_KEYS ("key_id:base64"): the first encrypts, every listed key decrypts, so a key is
rotated by putting a new one first. The row's owner, provider and kind are the associated data: a ciphertext
copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from typing import TypedDict

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.db.pool import connect
from app.db.queries import purchases as q
from app.db.types import Connection

NONCE_BYTES = 12


class ProofCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        parsed = [entry.partition(":") for entry in keys]
        self._keys = {key_id: AESGCM(base64.b64decode(secret)) for key_id, _, secret in parsed}
        self._current = parsed[0][0]

    @property
    def current_key_id(self) -> str:
        return self._current

    def encrypt(self, plaintext: bytes, associated: bytes) -> tuple[str, bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self._current, nonce, self._keys[self._current].encrypt(nonce, plaintext, associated)

    def decrypt(self, key_id: str, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
        """Raises KeyError for a retired key and cryptography's InvalidTag for a tampered or moved row."""
        return self._keys[key_id].decrypt(nonce, ciphertext, associated)


def associated_data(user_id: uuid.UUID, provider: str, proof_kind: str) -> bytes:
    return f"{user_id}|{provider}|{proof_kind}".encode()


class SealedProof(TypedDict):
    """A proof as it is stored: its sha256 (the same proof from the same account is kept once), encrypted."""

    raw_sha256: str
    key_id: str
    nonce: bytes
    ciphertext: bytes


def seal(cipher: ProofCipher, user_id: uuid.UUID, *, provider: str, proof_kind: str, raw: str) -> SealedProof:
    data = raw.encode()
    key_id, nonce, ciphertext = cipher.encrypt(data, associated_data(user_id, provider, proof_kind))
    return SealedProof(raw_sha256=hashlib.sha256(data).hexdigest(), key_id=key_id, nonce=nonce, ciphertext=ciphertext)


async def read_proofs(conn: Connection, cipher: ProofCipher, user_id: uuid.UUID, limit: int = 100) -> list[str]:
    """The user's stored proofs in clear, newest first (forensics; never served to clients)."""
    rows = await q.list_proofs(conn, user_id=user_id, max_rows=limit)
    return [
        cipher.decrypt(
            row.key_id, row.nonce, row.ciphertext, associated_data(user_id, row.provider, row.proof_kind)
        ).decode()
        for row in rows
    ]


REENCRYPT_PAGE = 500


async def reencrypt_proofs(conn: Connection, cipher: ProofCipher) -> int:
    """After a key rotation: re-encrypt every proof under the current key, so older keys can be retired.
    Returns how many were re-encrypted; a proof under a key no longer listed raises KeyError (nothing is lost)."""
    done = 0
    while rows := await q.list_proofs_not_under_key(
        conn, current_key_id=cipher.current_key_id, max_rows=REENCRYPT_PAGE
    ):
        for row in rows:
            associated = associated_data(row.user_id, row.provider, row.proof_kind)
            plaintext = cipher.decrypt(row.key_id, row.nonce, row.ciphertext, associated)
            key_id, nonce, ciphertext = cipher.encrypt(plaintext, associated)
            await q.reencrypt_proof(conn, id=row.id, key_id=key_id, nonce=nonce, ciphertext=ciphertext)
            done += 1
    return done


async def reencrypt_proofs_at(dsn: str, keys: tuple[str, ...]) -> str:
    conn = await connect(dsn)
    try:
        return f"re-encrypted {await reencrypt_proofs(conn, ProofCipher(keys))} proof(s) under the current key"
    finally:
        await conn.close()
