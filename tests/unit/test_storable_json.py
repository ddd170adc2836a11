"""Provider payloads with U+0000 (which jsonb refuses) are stored with it escaped; other bodies pass untouched."""

from __future__ import annotations

import msgspec

from app.billing.inbox.storable import storable_json


def test_nul_characters_in_keys_and_values_are_escaped_and_other_bodies_are_kept_as_they_are() -> None:
    body = msgspec.json.encode({"name": "a\x00b", "list": ["\x00"], "key\x00": 1})
    assert msgspec.json.decode(storable_json(body)) == {"name": "a\\u0000b", "list": ["\\u0000"], "key\\u0000": 1}
    text = b'{"path": "C:\\\\u0000"}'  # an escaped backslash followed by "u0000": no NUL
    assert storable_json(text) is text
    plain = b'{"id": "evt_1"}'
    assert storable_json(plain) is plain
    broken = b'{"id": "\\u0000'
    assert storable_json(broken) is broken
