from __future__ import annotations

import msgspec

from app.auth.schemas import User
from app.db.queries.auth import GetSessionUserRow
from app.db.queries.users import UpdateProfileRow


def test_user_rows_match_the_user_schema_field_for_field() -> None:
    """app.auth.service builds User positionally from these rows."""
    expected = [(f.name, f.type) for f in msgspec.structs.fields(User)]
    for row in (GetSessionUserRow, UpdateProfileRow):
        assert [(f.name, f.type) for f in msgspec.structs.fields(row)] == expected
