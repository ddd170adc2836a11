"""argon2id password hashing, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3, p=4).
_hasher = PasswordHasher()

# A real hash of a random password: verifying against it when the account does not exist keeps
# sign-in timing the same for unknown emails.
_DUMMY_HASH = _hasher.hash("no-such-account-placeholder-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_verify, password_hash, password)
