"""Hashing slots are shared per account: one account's queue of verifications leaves the other slots free."""

from __future__ import annotations

import asyncio

from app.core.passwords import Passwords


async def test_one_accounts_burst_leaves_a_slot_for_another_account() -> None:
    passwords = Passwords(max_concurrent=2, max_per_account=1)
    stored = await passwords.hash("correct horse battery staple", account="victim@example.com")
    finished: list[str] = []

    async def verify(account: str) -> None:
        await passwords.verify(stored, "wrong guess", account=account)
        finished.append(account)

    burst = [asyncio.create_task(verify("victim@example.com")) for _ in range(6)]
    await asyncio.sleep(0)  # the burst queues first
    await asyncio.gather(verify("someone-else@example.com"), *burst)
    # With one shared queue the other account would wait behind all six; with a share per account it runs at once.
    assert finished.index("someone-else@example.com") <= 2, finished
