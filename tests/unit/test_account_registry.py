from __future__ import annotations

import pytest

from app.account.registry import AccountPart, AccountParts


async def _nothing(*_: object) -> None:
    return None


def test_a_domain_registers_its_part_once() -> None:
    assert [part.name for part in AccountParts((AccountPart("live", erase=_nothing),)).parts] == ["live"]
    with pytest.raises(ValueError, match="registered twice"):
        AccountParts((AccountPart("live", erase=_nothing), AccountPart("live")))
