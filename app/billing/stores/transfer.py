"""Restore and transfer (RevenueCat's "transfer purchases"): may the account restoring a store purchase have it when
another account holds it, or the app bound it to another account? (docs/payments.md "Restore and transfer")

- Bound to an account that was deleted: the deleted account's subscription rows went with it, but the store still
  names it (Apple appAccountToken, Google obfuscatedExternalAccountId). Its tombstone (`deleted_account_tokens`, the
  sha256 of its id) tells it from a live account: the restoring account claims the purchase.
- Bound to a live account (its subscription row): `BILLING_TRANSFER_POLICY` decides. `keep` (the default) refuses
  with 409 and says how to restore into the original account; `transfer` moves the purchase to the restoring account.
- Made for another account that is not a deleted one (the app bound it, nobody recorded it yet): the policy
  decides the same way (`keep`: 409).

Every transfer is a `subscription_transfers` row with its cause and the request that caused it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from app.billing.stores.purchase import StorePurchase
from app.core.errors import Conflict
from app.db.queries import billing as billing_q
from app.db.queries import billing_support as q
from app.db.types import Connection

TransferPolicy = Literal["keep", "transfer"]
TransferCause = Literal["deleted_account", "transfer_policy"]

OWNED_ELSEWHERE_MESSAGE = (
    "This purchase belongs to another CookCam account. Sign in to the account that made it and restore purchases there."
)
MADE_FOR_ANOTHER_MESSAGE = (
    "This purchase was made for another CookCam account. Sign in to that account and restore purchases there."
)


def account_token_matches(token: str, user_id: uuid.UUID) -> bool:
    """Apps set the account's id (Apple appAccountToken, a UUID) or its sha256 (Google's advice for the obfuscated
    account id)."""
    return token.lower() in (str(user_id), account_token_sha256(user_id))


def account_token_sha256(user_id: uuid.UUID) -> str:
    """The form a deleted account's tombstone keeps, and the form Google's obfuscated account id takes."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()


def _token_sha256(token: str) -> str | None:
    """An account token brought to the tombstone's form: a UUID (Apple) is hashed, a sha256 (Google) is kept."""
    try:
        return account_token_sha256(uuid.UUID(token))
    except ValueError:
        lowered = token.lower()
        is_sha256 = len(lowered) == 64 and all(c in "0123456789abcdef" for c in lowered)
        return lowered if is_sha256 else None


async def record_deleted_account(conn: Connection, user_id: uuid.UUID) -> None:
    """The account's tombstone, written in its deletion's transaction (the account part's erase step)."""
    await q.record_deleted_account_token(conn, token_sha256=account_token_sha256(user_id))


@dataclass(frozen=True)
class Transfer:
    """A purchase that changes accounts in this restore."""

    cause: TransferCause
    from_user_id: uuid.UUID | None

    async def record(self, conn: Connection, purchase: StorePurchase, request_ref: str) -> None:
        await q.record_subscription_transfer(
            conn,
            from_user_id=self.from_user_id,
            cause=self.cause,
            cause_ref=request_ref,
            provider=purchase.provider,
            provider_subscription_id=purchase.identity,
        )


def made_for_another(purchase: StorePurchase, user_id: uuid.UUID) -> bool:
    """Whether the app bound the purchase to another account (its account token names someone else)."""
    token = purchase.account_token
    return token is not None and token != "" and not account_token_matches(token, user_id)


async def claim(
    conn: Connection, user_id: uuid.UUID, purchase: StorePurchase, policy: TransferPolicy
) -> Transfer | None:
    """Whether `user_id` may record `purchase` now, inside the restore's transaction: None when it is theirs or
    nobody's, a Transfer when it changes accounts (a live holder's row is moved here first), else 409. Needed
    before recording only for a purchase made for another account: otherwise the recording itself finds another
    holder (and writes nothing), and the claim follows."""
    held = await billing_q.get_provider_subscription(
        conn, provider=purchase.provider, provider_subscription_id=purchase.identity
    )
    if held is not None and held.user_id != user_id:
        # Rows of deleted accounts are gone with them: whoever holds it is a live account.
        if policy == "keep":
            raise Conflict("SUBSCRIPTION_OWNED_ELSEWHERE", OWNED_ELSEWHERE_MESSAGE)
        await q.move_subscription(
            conn, to_user_id=user_id, provider=purchase.provider, provider_subscription_id=purchase.identity
        )
        return Transfer("transfer_policy", held.user_id)
    if held is None and purchase.account_token is not None and made_for_another(purchase, user_id):
        hashed = _token_sha256(purchase.account_token)
        if hashed is not None and await q.is_deleted_account_token(conn, token_sha256=hashed):
            return Transfer("deleted_account", None)
        if policy == "keep":
            raise Conflict("PURCHASE_ACCOUNT_MISMATCH", MADE_FOR_ANOTHER_MESSAGE)
        return Transfer("transfer_policy", None)
    return None
