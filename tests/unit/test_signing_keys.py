"""How long a provider's published keys are kept: the response's max-age, bounded both ways."""

from __future__ import annotations

import pytest

from app.core.signing_keys import cache_seconds


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        ("public, max-age=21600, must-revalidate, no-transform", 21600.0),  # Google's certs
        ("max-age=86400", 86400.0),
        ("MAX-AGE = 120", 120.0),
        ("max-age=5", 60.0),  # at least a minute: a provider asking for less is not refetched per request
        ("max-age=99999999", 86400.0),  # at most a day
        ("no-cache, no-store, max-age=0", 60.0),
        ("s-maxage=30", 3600.0),  # not max-age
        ("", 3600.0),
        (None, 3600.0),
    ],
)
def test_cache_seconds(cache_control: str | None, seconds: float) -> None:
    assert cache_seconds(cache_control) == seconds
