"""The one level curve: thresholds 50·L·(L-1), computed in integers without drift, and the progress bar's parts."""

from __future__ import annotations

from app.gamification.levels import level_for, progress_of, xp_for_level


def test_documented_thresholds() -> None:
    assert [xp_for_level(level) for level in (1, 2, 3, 4, 5, 10, 20)] == [0, 100, 300, 600, 1000, 4500, 19000]


def test_every_threshold_starts_its_level_exactly() -> None:
    for level in range(1, 20_000):
        start = xp_for_level(level)
        assert level_for(start) == level
        assert level_for(start - 1) == max(1, level - 1)
    assert level_for(-5) == 1  # never below level 1


def test_progress_parts_add_up() -> None:
    for total in (0, 1, 99, 100, 101, 299, 300, 12_345, 10**15):
        part = progress_of(total)
        assert xp_for_level(part.level) + part.current_level_xp == total
        assert 0 <= part.current_level_xp < part.next_level_xp == 100 * part.level
