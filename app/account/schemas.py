"""Bodies of DELETE /auth/account and GET /auth/export (field names fixed by the mobile app's contract)."""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class DeleteAccountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    confirm_password: Password


class DeleteAccountResponse(msgspec.Struct, frozen=True):
    message: str
    deleted_at: datetime.datetime
    # Store subscriptions keep charging until the user cancels them in the store: how to do that, one per store.
    store_subscriptions_to_cancel: list[str] = []
