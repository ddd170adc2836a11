"""Sockets of one worker waiting for their first auth message, counted per client address: granian holds whatever
message such a socket sends, whole, before anyone is accountable for it, so one address may have only a few waiting
(WS_UNAUTHENTICATED_PER_ADDRESS)."""

from __future__ import annotations

from collections import Counter


class PendingSockets:
    def __init__(self) -> None:
        self._by_address: Counter[str] = Counter()

    def enter(self, address: str, limit: int) -> bool:
        """Count one more socket from `address`, unless it already holds `limit`. Checked and counted with no await
        in between, so concurrent handshakes on this worker cannot both pass."""
        if self._by_address[address] >= limit:
            return False
        self._by_address[address] += 1
        return True

    def leave(self, address: str) -> None:
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]
