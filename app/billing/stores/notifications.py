"""Store notifications: App Store Server Notifications V2 and Google Play real-time developer notifications.

Both are authenticated before anything is stored (Apple: the JWS chain to Apple's root; Google: the Pub/Sub OIDC
token), de-duplicated by the store's id (notificationUUID, Pub/Sub message id) through `process_once`, and applied
from verified store data: Apple's signed transaction and renewal info, Google's subscription fetched again.
"""

from __future__ import annotations

import logging

import msgspec
from appstoreserverlibrary.models.ResponseBodyV2DecodedPayload import ResponseBodyV2DecodedPayload

from app.billing.entitlements import Cause, apply_provider_state
from app.billing.inbox.processing import Apply, Effect, EventOutcome, Fetch, no_writes, process_once
from app.billing.providers import PaymentProviders
from app.billing.stores.google.push import PushMessage, VoidedPurchaseNotification, decode_push
from app.billing.stores.purchase import StorePurchase
from app.billing.stores.recording import owner_of, supersede
from app.core.errors import AppError, BadRequest, Unprocessable
from app.db.queries import billing as q
from app.db.types import Connection, ConnectionSource
from app.settings import GoogleSettings

log = logging.getLogger("cookcam.billing.stores")

GOOGLE_REVOKED = 12  # SUBSCRIPTION_REVOKED: refunded and ended at once; subscriptionsv2 then says only EXPIRED
GOOGLE_SUBSCRIPTION_PRODUCT = 1  # VoidedPurchaseNotification.productType PRODUCT_TYPE_SUBSCRIPTION


class AppleNotificationBody(msgspec.Struct, frozen=True):
    signedPayload: str  # Apple's field name


def decode_apple_body(payload: bytes) -> AppleNotificationBody:
    try:
        return msgspec.json.decode(payload, type=AppleNotificationBody)
    except msgspec.DecodeError:
        raise BadRequest("NOTIFICATION_INVALID", "The body is not an App Store notification.") from None


async def receive_apple(connect: ConnectionSource, payments: PaymentProviders, payload: bytes) -> EventOutcome:
    body = decode_apple_body(payload)
    notification = await payments.app_store.verify_notification(body.signedPayload)
    event_type = str(notification.rawNotificationType) + (
        f".{notification.rawSubtype}" if notification.rawSubtype else ""
    )
    return await process_once(
        connect,
        provider="apple",
        event_id=str(notification.notificationUUID),
        event_type=event_type,
        payload={"signedPayload": body.signedPayload},
        effect=apple_effect(payments, notification),
    )


def apple_effect(payments: PaymentProviders, notification: ResponseBodyV2DecodedPayload) -> Fetch:
    """Whatever the notification type, the signed transaction and renewal info in it are the state."""

    async def verify_then_apply(connect: ConnectionSource) -> Apply:
        data = notification.data
        if data is None or not data.signedTransactionInfo:
            return no_writes  # TEST, summaries and other notifications without a subscription
        transaction = await payments.app_store.verify_transaction(data.signedTransactionInfo)
        renewal = (
            await payments.app_store.verify_renewal_info(data.signedRenewalInfo) if data.signedRenewalInfo else None
        )
        try:
            purchase = payments.app_store.purchase(transaction, renewal)
        except AppError as exc:  # not one of our products: nothing to apply, and a redelivery would not change that
            log.warning("App Store notification %s not applied: %s", notification.notificationUUID, exc.code)
            return no_writes
        return await _purchase_effect(
            connect, payments, purchase, Cause("apple_notification", str(notification.notificationUUID))
        )

    return verify_then_apply


def stored_apple_effect(payments: PaymentProviders, payload: object) -> Effect:
    """Recovery: the stored body is verified again, then applied."""

    async def verify_then_apply(connect: ConnectionSource) -> Apply:
        body = msgspec.convert(payload, AppleNotificationBody)
        notification = await payments.app_store.verify_notification(body.signedPayload)
        return await apple_effect(payments, notification)(connect)

    return verify_then_apply


async def receive_google(
    connect: ConnectionSource,
    payments: PaymentProviders,
    settings: GoogleSettings,
    authorization: str | None,
    payload: bytes,
) -> EventOutcome:
    await payments.google_push.verify(authorization)
    push = decode_push(payload)
    return await process_once(
        connect,
        provider="google",
        event_id=push.message_id,
        event_type=push.notification.event_type,
        payload=msgspec.Raw(payload),  # verified JSON, stored as sent (no decode and re-encode)
        effect=google_effect(payments, settings, push),
    )


def google_effect(payments: PaymentProviders, settings: GoogleSettings, push: PushMessage) -> Effect:
    """The subscription is fetched again from Google (the notification itself is only a hint)."""

    async def fetch_then_apply(connect: ConnectionSource) -> Apply:
        if push.notification.package_name != settings.package_name:
            log.warning("Google notification %s is for another package; ignored", push.message_id)
            return no_writes
        if (voided := push.notification.voided_purchase_notification) is not None:
            return await _voided_effect(connect, payments, push, voided)
        notification = push.notification.subscription_notification
        if notification is None:
            return no_writes  # test and one-time-product notifications
        purchase = _at_event_time(await payments.google.fetch(notification.purchase_token), push)
        if notification.notification_type == GOOGLE_REVOKED:
            purchase = msgspec.structs.replace(purchase, status="revoked")
        return await _purchase_effect(connect, payments, purchase, Cause("google_notification", push.message_id))

    return fetch_then_apply


def _at_event_time(purchase: StorePurchase, push: PushMessage) -> StorePurchase:
    """Google's own time of the change the push announces orders it (what we fetched is at least that new; a later
    change has its own push with a later time)."""
    event_time = push.notification.event_time
    return purchase if event_time is None else msgspec.structs.replace(purchase, observed_at=event_time)


async def _voided_effect(
    connect: ConnectionSource, payments: PaymentProviders, push: PushMessage, voided: VoidedPurchaseNotification
) -> Apply:
    """A refunded or charged-back order of one of our subscriptions: the earning of the period that order paid for
    is reversed, and the purchase is read again from Google, whose state says whether access was revoked too (a
    refund alone leaves the subscription running). A token nobody here holds, or another product type: no effect."""
    token, order_id = voided.purchase_token, voided.order_id
    if voided.product_type != GOOGLE_SUBSCRIPTION_PRODUCT or not order_id:
        return no_writes
    async with connect() as conn:
        known = await q.get_provider_subscription(conn, provider="google", provider_subscription_id=token)
    if known is None:
        log.info("Google voided purchase %s: the purchase is not one of ours; nothing to reverse", push.message_id)
        return no_writes
    cause = Cause("google_notification", push.message_id)
    record: Apply
    try:
        purchase = await payments.google.fetch(token)
    except Unprocessable:  # Google no longer answers for it (expired for 60 days): the reversal alone applies
        record = no_writes
    else:
        record = await _purchase_effect(connect, payments, _at_event_time(purchase, push), cause)

    async def reverse_then_record(conn: Connection) -> None:
        await payments.hooks.order_voided(conn, "google", token, order_id)
        await record(conn)

    return reverse_then_record


def stored_google_effect(payments: PaymentProviders, settings: GoogleSettings, payload: object) -> Effect:
    """Recovery: the push was authenticated when it arrived; its purchase is fetched again now."""
    return google_effect(payments, settings, decode_push(msgspec.json.encode(payload)))


async def _purchase_effect(
    connect: ConnectionSource, payments: PaymentProviders, purchase: StorePurchase, cause: Cause
) -> Apply:
    """Acknowledge a Google purchase that is already an account's (Google refunds one left unacknowledged for
    three days), holding no connection while Google answers; the Apply records the purchase's state."""
    if purchase.needs_acknowledgement:
        async with connect() as conn:
            owner = await owner_of(conn, purchase)
        if owner is not None:  # a purchase nobody has bound yet waits for the app's validation to bind it
            await payments.google.acknowledge(purchase)

    async def record(conn: Connection) -> None:
        user_id = await owner_of(conn, purchase)
        if user_id is None:
            log.info("%s: purchase not bound to an account yet; the app's validation will bind it", cause.ref)
            return
        if await apply_provider_state(conn, purchase.state_for(user_id), cause, payments.hooks) is None:
            return
        if purchase.supersedes:
            await supersede(conn, purchase, payments.hooks)

    return record
