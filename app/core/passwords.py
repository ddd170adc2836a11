"""argon2id password hashing, run in worker threads so the event loop keeps serving, a few at a time."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3, p=4).
_hasher = PasswordHasher()

# A real hash of a random password: verifying against it when the account does not exist keeps
# sign-in timing the same for unknown emails.
_DUMMY_HASH = _hasher.hash("no-such-account-placeholder-password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Passwords:
    """Hashes and verifies passwords with at most `max_concurrent` argon2id computations at once."""

    def __init__(self, max_concurrent: int) -> None:
        self._slots = asyncio.Semaphore(max(1, max_concurrent))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(_hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            if password_hash is None:
                await asyncio.to_thread(_verify, _DUMMY_HASH, password)
                return False
            return await asyncio.to_thread(_verify, password_hash, password)
