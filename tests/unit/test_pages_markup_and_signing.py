"""The pages' building blocks: templates escape what they are given; signed values refuse tampering, expiry,
another purpose and unknown keys, and survive a JWT secret rotation."""

from __future__ import annotations

import time
from string import Template

import pytest

from app.pages.markup import Html, render
from app.pages.signing import MAX_TOKEN_LENGTH, Signer
from app.settings import JwtSettings

OLD = JwtSettings(secret="o" * 40, key_id="k1")
NEW = JwtSettings(secret="n" * 40, key_id="k2", previous_secret="o" * 40, previous_key_id="k1")


def test_every_value_is_escaped_unless_already_html() -> None:
    template = Template('<p title="$title">$body</p>$fragment')
    rendered = render(template, title='"><x', body="<script>&", fragment=Html("<b>kept</b>"))
    assert rendered == '<p title="&quot;&gt;&lt;x">&lt;script&gt;&amp;</p><b>kept</b>'
    with pytest.raises(KeyError):
        render(template, title="only one")


def test_a_signed_value_comes_back_only_as_signed() -> None:
    signer = Signer(OLD)
    token = signer.sign("csrf /account/delete", "binding-1", 60)
    assert signer.unsign("csrf /account/delete", token) == "binding-1"
    assert signer.unsign("csrf /account/delete/confirm", token) is None  # another purpose
    expires, value, mac = token.split(".")
    assert signer.unsign("csrf /account/delete", f"{int(expires) + 1000}.{value}.{mac}") is None  # longer life
    assert signer.unsign("csrf /account/delete", f"{expires}.{value}x.{mac}") is None
    assert signer.unsign("csrf /account/delete", f"{expires}.{value}.{mac[:-1]}") is None
    for garbage in ("", "a.b", "a.b.c.d", "1.é.x", "x" * (MAX_TOKEN_LENGTH + 1), "1.%%%.%%%"):
        assert signer.unsign("csrf /account/delete", garbage) is None
    late = signer.sign("csrf /account/delete", "binding-1", 60, now=time.time() - 61)
    assert signer.unsign("csrf /account/delete", late) is None


def test_values_signed_before_a_rotation_still_verify_and_other_keys_do_not() -> None:
    before = Signer(OLD).sign("delete-account x", "user", 60)
    assert Signer(NEW).unsign("delete-account x", before) == "user"
    assert Signer(JwtSettings(secret="z" * 40)).unsign("delete-account x", before) is None
    after = Signer(NEW).sign("delete-account x", "user", 60)
    assert Signer(OLD).unsign("delete-account x", after) is None  # the old key never knew the new one
