from __future__ import annotations

import uuid

from app.core.request_context import accept_or_make_request_id, new_request_id


def test_made_request_ids_are_random_version_4_uuids_in_hex() -> None:
    """The format `uuid.uuid4().hex` wrote before ids were made from the random bytes directly."""
    made = [new_request_id() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for request_id in made:
        parsed = uuid.UUID(request_id)
        assert parsed.hex == request_id
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_a_plain_incoming_id_is_kept_and_any_other_replaced() -> None:
    assert accept_or_make_request_id("abc-123") == "abc-123"
    for unusable in (None, "", "bad id\r\nwith junk", "x" * 129):
        assert uuid.UUID(accept_or_make_request_id(unusable)).version == 4
