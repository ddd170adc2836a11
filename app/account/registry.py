"""What each domain contributes to an account's export and to its deletion, registered by the web wiring at start-up
(app/web/account_parts.py), so that this package knows no domain and adding one means adding its part."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from app.account.schemas import DeleteAccountRequest
from app.db.types import Connection, ConnectionSource

# A section of the export: a Struct whose fields become top-level keys of the export document.
ExportSection = Callable[[Connection, uuid.UUID], Awaitable[msgspec.Struct]]
# Before anything is erased, holding no connection while it waits (it may call a provider): ends what can be
# ended and returns what only the user can still do (e.g. cancel a store subscription). Raising stops the deletion.
CloseStep = Callable[[ConnectionSource, uuid.UUID], Awaitable[list[str]]]
# Before a deletion, that the caller owns the account now (the wiring passes app.auth's check: the password, or a
# fresh Apple or Google token of a linked identity); raises when the proof fails, holding no connection meanwhile.
OwnerCheck = Callable[[uuid.UUID, DeleteAccountRequest], Awaitable[None]]
# Inside the deletion's transaction, before the users row and everything that cascades with it go.
EraseStep = Callable[[Connection, uuid.UUID], Awaitable[None]]


@dataclass(frozen=True)
class AccountPart:
    """One domain's share of an account."""

    name: str
    export: ExportSection | None = None
    close: CloseStep | None = None
    erase: EraseStep | None = None


@dataclass(frozen=True)
class AccountParts:
    parts: tuple[AccountPart, ...]

    def __post_init__(self) -> None:
        names = [part.name for part in self.parts]
        if len(names) != len(set(names)):
            raise ValueError(f"account parts registered twice: {names}")
