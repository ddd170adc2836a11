"""The password policy, in one place: sign-up, reset and change all apply `check_new_password`, and the request
schemas take their length bounds from here.

- Length: 8 to 128 characters (Unicode code points). The upper bound also bounds the hashing cost.
- Not a common password: refused when, lower-cased, it is one of the 10,000 most common passwords of 8 or more
  characters (data/common_passwords.txt; source and licence in its header and in docs/security.md). The check is
  offline: no password, hash or prefix of one leaves the server.
"""

from __future__ import annotations

import functools
from pathlib import Path

from app.core.errors import Unprocessable

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("# "))


def check_new_password(password: str) -> None:
    """Raise Unprocessable (PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, PASSWORD_TOO_COMMON) unless `password` may be set."""
    if len(password) < MIN_LENGTH:
        raise Unprocessable("PASSWORD_TOO_SHORT", f"Choose a password of at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise Unprocessable("PASSWORD_TOO_LONG", f"Choose a password of at most {MAX_LENGTH} characters.")
    if password.lower() in common_passwords():
        raise Unprocessable(
            "PASSWORD_TOO_COMMON", "This password is one of the most common ones and easy to guess; choose another."
        )
