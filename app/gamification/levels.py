"""The one level curve. Reaching level L takes 50·L·(L-1) XP in all: level 2 at 100, 3 at 300, 4 at 600, 5 at 1,000,
10 at 4,500, 20 at 19,000; each level takes 100 XP more than the one before (docs/gamification.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

XP_STEP = 50


def xp_for_level(level: int) -> int:
    """Total XP at which `level` starts (level 1 at 0)."""
    return XP_STEP * level * (level - 1)


def level_for(total_xp: int) -> int:
    """The highest level whose threshold `total_xp` reaches: L(L-1) ≤ total/50, solved in integers."""
    return (1 + math.isqrt(1 + 4 * (max(0, total_xp) // XP_STEP))) // 2


@dataclass(frozen=True)
class LevelProgress:
    level: int
    current_level_xp: int  # XP earned since the current level started
    next_level_xp: int  # XP the current level spans: reaching the next one takes this much from its start


def progress_of(total_xp: int) -> LevelProgress:
    level = level_for(total_xp)
    start = xp_for_level(level)
    return LevelProgress(level, total_xp - start, xp_for_level(level + 1) - start)
