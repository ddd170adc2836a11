"""Bodies of DELETE /auth/account and GET /auth/export (field names fixed by the mobile app's contract)."""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# A provider's identity token (a JWT of about 1 KB), as at sign-in.
IdentityToken = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
Nonce = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class DeleteAccountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one proof that the caller owns the account now: the password (the shipped app sends it), or, for an
    account with a linked Apple or Google identity (the only way for one without a password), a token from signing
    in with that provider again a moment ago: Apple's `identity_token` (and the `nonce` the sign-in used, if any),
    or Google's `id_token`."""

    confirm_password: Password | None = None
    identity_token: IdentityToken | None = None
    nonce: Nonce | None = None
    id_token: IdentityToken | None = None


class DeleteAccountResponse(msgspec.Struct, frozen=True):
    message: str
    deleted_at: datetime.datetime
    # Store subscriptions keep charging until the user cancels them in the store: how to do that, one per store.
    store_subscriptions_to_cancel: list[str] = []
