"""The password policy (app/auth/password_policy.py): one length rule, and the bundled common-password list."""

from __future__ import annotations

import pytest

from app.auth.password_policy import (
    COMMON_PASSWORDS_FILE,
    MAX_LENGTH,
    MIN_LENGTH,
    check_new_password,
    common_passwords,
)
from app.core.errors import Unprocessable


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("a" * (MIN_LENGTH - 1), "PASSWORD_TOO_SHORT"),
        ("a" * (MAX_LENGTH + 1), "PASSWORD_TOO_LONG"),
        ("password", "PASSWORD_TOO_COMMON"),
        ("Qwertyuiop", "PASSWORD_TOO_COMMON"),  # compared lower-cased
        ("iloveyou1", "PASSWORD_TOO_COMMON"),
    ],
)
def test_a_password_outside_the_policy_is_refused_with_its_code(password: str, code: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        check_new_password(password)
    assert refused.value.code == code


@pytest.mark.parametrize("password", ["b" * MIN_LENGTH, "c" * MAX_LENGTH, "correct horse battery staple"])
def test_a_password_inside_the_policy_passes(password: str) -> None:
    check_new_password(password)


def test_the_bundled_list_is_small_lower_case_and_only_of_passwords_the_length_rule_allows() -> None:
    passwords = common_passwords()
    assert 3000 < len(passwords) <= 10_000
    assert COMMON_PASSWORDS_FILE.stat().st_size < 64 * 1024
    assert all(p == p.lower() and MIN_LENGTH <= len(p) <= MAX_LENGTH for p in passwords)
    assert not any(p.startswith("#") for p in passwords)
