"""Password hashing and verification, run in worker threads so the event loop keeps serving, a few at a time, and
at most a share of them for any one account.

New hashes are argon2id. Verification also accepts the bcrypt hashes (`$2a$`, `$2b$`, `$2y$`) of accounts imported
from the previous backend (Supabase Auth stores bcrypt in `auth.users.encrypted_password`); `needs_rehash` tells the
caller to replace such a hash with argon2id once the password verified.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3, p=4).
_hasher = PasswordHasher()

# A real hash of a random password: verifying against it when the account does not exist keeps
# sign-in timing the same for unknown emails.
_DUMMY_HASH = _hasher.hash("no-such-account-placeholder-password")

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# bcrypt reads only the first 72 bytes of a password: the hash was made from at most those (Go's bcrypt, which
# Supabase Auth uses, refuses longer ones; older versions cut them), so a longer password is compared by them too.
_BCRYPT_MAX_BYTES = 72


def is_bcrypt(password_hash: str) -> bool:
    return password_hash.startswith(_BCRYPT_PREFIXES)


def _verify_bcrypt(password_hash: str, password: str) -> bool:
    # `$2y$` (PHP's name) is the same algorithm as `$2b$`; the bcrypt package knows `$2a$` and `$2b$`.
    encoded = ("$2b$" + password_hash[4:]) if password_hash.startswith("$2y$") else password_hash
    try:
        return bcrypt.checkpw(password.encode()[:_BCRYPT_MAX_BYTES], encoded.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        # A malformed hash (bad cost, salt or length) verifies nothing.
        return False


def _verify(password_hash: str, password: str) -> bool:
    if is_bcrypt(password_hash):
        return _verify_bcrypt(password_hash, password)
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for a hash that verified but should be replaced: bcrypt, or argon2id under older parameters."""
    if is_bcrypt(password_hash):
        return True
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


class Passwords:
    """Hashes and verifies passwords with at most `max_concurrent` hash computations at once, of which one account
    (the normalised email the password is checked for) takes at most `max_per_account`: guesses at one account
    queue behind each other instead of filling every slot, so everyone else's sign-in still finds one."""

    def __init__(self, max_concurrent: int, max_per_account: int = 1) -> None:
        self._slots = asyncio.Semaphore(max(1, max_concurrent))
        self._per_account = max(1, min(max_per_account, max_concurrent))
        # The accounts with a check running or queued, each with its share and how many are using it.
        self._accounts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def _slot(self, account: str) -> AsyncIterator[None]:
        share, users = self._accounts.get(account, (asyncio.Semaphore(self._per_account), 0))
        self._accounts[account] = (share, users + 1)
        try:
            async with share, self._slots:
                yield
        finally:
            share, users = self._accounts[account]
            if users == 1:
                del self._accounts[account]
            else:
                self._accounts[account] = (share, users - 1)

    async def hash(self, password: str, *, account: str) -> str:
        async with self._slot(account):
            return await asyncio.to_thread(_hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str, *, account: str) -> bool:
        async with self._slot(account):
            if password_hash is None:
                await asyncio.to_thread(_verify, _DUMMY_HASH, password)
                return False
            return await asyncio.to_thread(_verify, password_hash, password)
