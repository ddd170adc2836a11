"""POST /iap/validate-receipt and /subscription/validate-purchase: a purchase proof from the app, verified with the
store, bound to the caller's account and recorded.

The tier comes from the store's verified product id through BILLING_PRODUCTS; the client's `product_id` is never
used to decide anything. A purchase already bound to another account is refused (409) and recorded as a security
event; so is one the app bound to a different account (Apple appAccountToken, Google obfuscatedExternalAccountId).
Every attempt is kept in the validation history, and the raw proof is stored encrypted.
"""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from app.billing.entitlements import Cause, ProviderState, entitlement_for, recorded_outcome, state_arguments
from app.billing.fraud import identity_hash, record_security_event
from app.billing.hooks import BillingHooks
from app.billing.proofs import SealedProof, seal
from app.billing.providers import PaymentProviders
from app.billing.schemas import Status, TierSlug
from app.billing.stores.purchase import StoreEnvironment, StoreProvider, StorePurchase
from app.billing.stores.recording import supersede
from app.billing.stores.transfer import TransferPolicy, claim, made_for_another
from app.core import metrics
from app.core.errors import AppError, Conflict, Unprocessable
from app.core.ratelimit import RateLimit, RateLimiter
from app.core.request_context import current_request_id
from app.db.queries import purchases as q
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

ProofKind = Literal["signed_transaction", "receipt", "purchase_token"]
RefusalKind = Literal["account_token_mismatch", "proof_owned_elsewhere"]
# Each validation calls a store: 20 a minute per account is far above what an app needs.
VALIDATION_LIMIT = RateLimit("purchase-validation", 20, 60)
# The refusals recorded as security events, by the code of their 409.
REFUSALS: dict[str, RefusalKind] = {
    "SUBSCRIPTION_OWNED_ELSEWHERE": "proof_owned_elsewhere",
    "PURCHASE_ACCOUNT_MISMATCH": "account_token_mismatch",
}


class ValidatePurchaseRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    platform: Literal["ios", "android"]
    receipt: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)] | None = None
    signed_transaction: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)] | None = None
    purchase_token: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000)] | None = None
    # Accepted for the shipped app's sake and ignored: the store's verified product decides the tier.
    product_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ValidationResult(msgspec.Struct, frozen=True):
    status: Status
    # The account's tier after this purchase was recorded (its best entitlement from any source).
    tier: TierSlug
    expires_at: datetime.datetime | None
    environment: StoreEnvironment


def proof_of(request: ValidatePurchaseRequest) -> tuple[ProofKind, str]:
    """The one proof the platform takes: iOS a StoreKit 2 signed transaction or a legacy receipt, Android a token."""
    if request.platform == "android":
        if request.purchase_token is None or request.receipt or request.signed_transaction:
            raise Unprocessable("PROOF_REQUIRED", "Android purchases are validated with purchase_token only.")
        return "purchase_token", request.purchase_token
    if request.purchase_token is not None or (request.signed_transaction is None) == (request.receipt is None):
        raise Unprocessable("PROOF_REQUIRED", "iOS purchases need exactly one of signed_transaction or receipt.")
    if request.signed_transaction is not None:
        return "signed_transaction", request.signed_transaction
    assert request.receipt is not None
    return "receipt", request.receipt


async def validate_purchase(
    connect: ConnectionSource,
    payments: PaymentProviders,
    rate_limiter: RateLimiter,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    request: ValidatePurchaseRequest,
) -> ValidationResult:
    kind, raw = proof_of(request)
    provider: StoreProvider = "google" if request.platform == "android" else "apple"
    async with connect() as conn:
        await rate_limiter.check(conn, [(VALIDATION_LIMIT, str(user_id))])
    history = _History(settings, user_id, provider, kind, time.monotonic())
    try:
        purchase = await _verify(payments, kind, raw)
    except AppError as exc:
        async with connect() as conn:
            await history.record(conn, None, "unavailable" if exc.status_code >= 500 else "invalid", exc.code)
        raise
    proof = seal(payments.proof_cipher, user_id, provider=provider, proof_kind=kind, raw=raw)
    async with connect() as conn:
        bound = await _bind(
            conn, history, user_id, purchase, payments.hooks, proof=proof, policy=settings.billing.transfer_policy
        )
    history.count(bound.outcome)
    if purchase.needs_acknowledgement:  # after binding: never acknowledge another account's purchase
        await payments.google.acknowledge(purchase)
    return ValidationResult(
        status=bound.status,  # type: ignore[arg-type]  # subscriptions.status holds only Status values
        tier=bound.tier,  # type: ignore[arg-type]  # tiers.slug holds only TierSlug values
        expires_at=bound.current_period_end,
        environment=purchase.environment,
    )


async def _verify(payments: PaymentProviders, kind: ProofKind, raw: str) -> StorePurchase:
    if kind == "signed_transaction":
        return payments.app_store.purchase(await payments.app_store.verify_transaction(raw), None)
    if kind == "receipt":
        return await payments.receipts.verify(raw)
    return await payments.google.fetch(raw)


@dataclass(frozen=True)
class _Bound:
    """The purchase's stored state after recording, the account's tier and the history row's outcome."""

    status: str
    current_period_end: datetime.datetime | None
    tier: str
    outcome: str


async def _bind(
    conn: Connection,
    history: _History,
    user_id: uuid.UUID,
    purchase: StorePurchase,
    hooks: BillingHooks,
    *,
    proof: SealedProof,
    policy: TransferPolicy,
) -> _Bound:
    """Record the purchase for this account with its proof and its history row, atomically: refused (409) when
    another account holds it or the app bound it to another account, unless that account was deleted or
    BILLING_TRANSFER_POLICY transfers it (app/billing/stores/transfer.py). Answers the purchase's stored state after
    recording: the proof's when it moved it, the stored one when that is newer (a refund that came after the signed
    transaction the app sent, a revocation Google reported) under the ordering rule. A refusal rolls all of it back
    and is then recorded on its own.

    The common case, a purchase of this account's own that replaces none, is the recording's one statement; a claim,
    a transfer or a replaced purchase makes it a transaction of several."""
    request_ref = current_request_id() or "cli"
    state = purchase.state_for(user_id)
    cause = Cause("validation", request_ref)

    async def in_transaction() -> tuple[q.RecordValidatedPurchaseRow, str | None]:
        async with conn.transaction():
            transfer = await claim(conn, user_id, purchase, policy) if made_for_another(purchase, user_id) else None
            recorded = await history.record_with_state(conn, purchase, state, cause, proof, hooks=hooks)
            if recorded.outcome == "owned_elsewhere":  # another account holds it (nothing was written): the claim
                transfer = await claim(conn, user_id, purchase, policy)  # refuses it, or moves it here
                recorded = await history.record_with_state(conn, purchase, state, cause, proof, hooks=hooks)
            recorded_outcome(recorded.outcome)  # its refusals raised
            if transfer is not None:
                await transfer.record(conn, purchase, request_ref)
            tier = recorded.after_tier
            if purchase.supersedes:
                await supersede(conn, purchase, hooks)
                tier = (await entitlement_for(conn, user_id)).slug  # the replaced purchase may have been its best
        return recorded, tier

    try:
        if made_for_another(purchase, user_id) or purchase.supersedes:
            recorded, tier = await in_transaction()
        else:
            recorded = await history.record_with_state(conn, purchase, state, cause, proof, hooks=hooks)
            tier = recorded.after_tier
            if recorded.outcome == "owned_elsewhere":  # nothing was written: the claim decides, in a transaction
                recorded, tier = await in_transaction()
            recorded_outcome(recorded.outcome)  # its refusals raised
    except Conflict as refused:
        refusal = REFUSALS.get(refused.code)
        if refusal is None:  # not about who owns the purchase (the account was deleted meanwhile)
            raise
        await _refuse(conn, history, user_id, purchase, refusal)
        raise
    assert recorded.stored_status is not None and tier is not None and recorded.validation_outcome is not None
    return _Bound(recorded.stored_status, recorded.stored_period_end, tier, recorded.validation_outcome)


async def _refuse(
    conn: Connection,
    history: _History,
    user_id: uuid.UUID,
    purchase: StorePurchase,
    kind: RefusalKind,
) -> None:
    await record_security_event(conn, user_id, purchase.provider, kind, identity=purchase.identity)
    await history.record(conn, purchase, "owned_elsewhere", kind.upper())


class _History:
    """One validation attempt's row in purchase_validations: a refusal's or a failure's in its own statement (kept
    although the recording rolled back), a recorded purchase's in the recording's statement."""

    def __init__(
        self,
        settings: Settings,
        user_id: uuid.UUID,
        provider: StoreProvider,
        kind: ProofKind,
        started: float,
    ) -> None:
        self._settings = settings
        self._user_id, self._provider, self._kind, self._started = user_id, provider, kind, started

    async def record(
        self, conn: Connection, purchase: StorePurchase | None, outcome: str, error_code: str | None
    ) -> None:
        await q.record_validation(
            conn,
            user_id=self._user_id,
            provider=self._provider,
            proof_kind=self._kind,
            proof_hash=identity_hash(purchase.identity) if purchase else None,
            outcome=outcome,
            error_code=error_code,
            environment=purchase.environment if purchase else None,
            server_environment=self._settings.app_env,
            product_id=purchase.product_id if purchase else None,
            duration_ms=self._elapsed_ms(),
        )
        self.count(outcome)

    async def record_with_state(
        self,
        conn: Connection,
        purchase: StorePurchase,
        state: ProviderState,
        cause: Cause,
        proof: SealedProof,
        *,
        hooks: BillingHooks,
    ) -> q.RecordValidatedPurchaseRow:
        """The purchase's state recorded with its proof and this attempt's row, whose outcome follows the stored
        status, with the hooks' triggers and the user's notice (cookcam_record_validation); counted by `count` once
        committed."""
        recorded = await q.record_validated_purchase(
            conn,
            **state_arguments(state),
            cause_kind=cause.kind,
            cause_ref=cause.ref,
            proof_kind=self._kind,
            proof_hash=identity_hash(purchase.identity),
            product_id=purchase.product_id,
            server_environment=self._settings.app_env,
            duration_ms=self._elapsed_ms(),
            **proof,
            hook_context=hooks.context_of(state),
        )
        assert recorded is not None  # the function always answers
        return recorded

    def count(self, outcome: str) -> None:
        metrics.PURCHASE_VALIDATIONS.labels(self._provider, outcome).inc()

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)
