"""Identity rules: accounts, sessions, token rotation with reuse detection, deletion and export."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from dataclasses import dataclass

import asyncpg
import msgspec
import stripe

from app.auth.schemas import (
    AccountExport,
    AuthResponse,
    DeleteAccountResponse,
    ProfileUpdate,
    SigninRequest,
    SignupRequest,
    User,
)
from app.billing import entitlements
from app.billing.account_closure import close_billing
from app.core.errors import Conflict, NotFound, Unauthorized, Unprocessable
from app.core.passwords import Passwords
from app.core.tokens import AccessTokenValidator, hash_refresh_token, new_refresh_token
from app.creators import links as affiliate_links
from app.db.queries import ai as ai_q
from app.db.queries import analytics as analytics_q
from app.db.queries import auth as q
from app.db.queries import collections as collections_q
from app.db.queries import creators as creators_q
from app.db.queries import gamification as gamification_q
from app.db.queries import live as live_q
from app.db.queries import payouts as payouts_q
from app.db.queries import purchases as purchases_q
from app.db.queries import scans as scans_q
from app.db.queries import social as social_q
from app.db.queries import users as users_q
from app.db.queries.auth import GetSessionUserRow
from app.db.queries.users import UpdateProfileRow
from app.db.types import Connection, ConnectionSource
from app.live import service as live
from app.realtime.events import ACCOUNT_DELETED, SESSION_REVOKED, RealtimeEvent, publish


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller: their profile, the session their access token belongs to, and when it expires."""

    user: User
    session_id: uuid.UUID
    token_expires_at: int

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


@dataclass(frozen=True)
class Credentials:
    """What the credential flows need besides a connection: token issuing and password hashing."""

    validator: AccessTokenValidator
    access_ttl_seconds: int
    refresh_ttl: datetime.timedelta
    passwords: Passwords


def _user(row: GetSessionUserRow | UpdateProfileRow) -> User:
    # Both queries select exactly User's columns in User's order (a test checks the field lists match).
    return User(*msgspec.structs.astuple(row))


def _known_time_zone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Unprocessable("TIME_ZONE_UNKNOWN", f"{name!r} is not a time zone name such as Europe/Paris.") from None
    return name


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class NewRefreshToken:
    token: str
    token_hash: bytes
    expires_at: datetime.datetime


def _new_refresh_token(issuer: Credentials) -> NewRefreshToken:
    token = new_refresh_token()
    expiry = datetime.datetime.now(datetime.UTC) + issuer.refresh_ttl
    return NewRefreshToken(token, hash_refresh_token(token), expiry)


async def _auth_response(
    conn: Connection, issuer: Credentials, user_id: uuid.UUID, session_id: uuid.UUID, refresh_token: str
) -> AuthResponse:
    row = await q.get_session_user(conn, session_id=session_id, user_id=user_id)
    if row is None:
        raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")
    return AuthResponse(
        user=_user(row),
        access_token=issuer.validator.issue(user_id, session_id),
        refresh_token=refresh_token,
        expires_in=issuer.access_ttl_seconds,
    )


# Sign-up and sign-in borrow connections only around their queries: no pooled connection waits while argon2id
# runs (tens of milliseconds, a few at a time per worker).


async def sign_up(connect: ConnectionSource, issuer: Credentials, request: SignupRequest) -> AuthResponse:
    password_hash = await issuer.passwords.hash(request.password)
    refresh_token = _new_refresh_token(issuer)
    async with connect() as conn:
        try:
            created = await q.create_account(
                conn,
                email=normalise_email(request.email),
                password_hash=password_hash,
                name=request.name.strip(),
                token_hash=refresh_token.token_hash,
                expires_at=refresh_token.expires_at,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("EMAIL_TAKEN", "An account with this email already exists.") from None
        assert created is not None  # the statement inserts and returns exactly one row
        return await _auth_response(conn, issuer, created.user_id, created.session_id, refresh_token.token)


async def sign_in(connect: ConnectionSource, issuer: Credentials, request: SigninRequest) -> AuthResponse:
    async with connect() as conn:
        credentials = await q.get_credentials_by_email(conn, email=normalise_email(request.email))
    valid = await issuer.passwords.verify(credentials.password_hash if credentials else None, request.password)
    if credentials is None or not valid:
        raise Unauthorized("INVALID_CREDENTIALS", "The email or password is incorrect.")
    refresh_token = _new_refresh_token(issuer)
    async with connect() as conn:
        session_id = await q.start_session(
            conn, user_id=credentials.id, token_hash=refresh_token.token_hash, expires_at=refresh_token.expires_at
        )
        assert session_id is not None  # the statement inserts and returns exactly one row
        return await _auth_response(conn, issuer, credentials.id, session_id, refresh_token.token)


async def refresh(connect: ConnectionSource, issuer: Credentials, refresh_token: str) -> AuthResponse:
    """Spend the refresh token and issue a new pair; a reused token revokes its whole session."""
    token_hash = hash_refresh_token(refresh_token)
    successor = _new_refresh_token(issuer)
    async with connect() as conn:
        rotated = await q.rotate_refresh_token(
            conn, token_hash=token_hash, new_token_hash=successor.token_hash, expires_at=successor.expires_at
        )
        if rotated is not None:
            return await _auth_response(conn, issuer, rotated.user_id, rotated.session_id, successor.token)
        # Not spendable: find out why, and end the session if a spent token came back.
        async with conn.transaction():
            known = await q.get_refresh_token(conn, token_hash=token_hash)
            reused = known is not None and known.spent_at is not None
            if known is not None and reused:
                await _revoke_session(conn, known.user_id, known.session_id, "refresh_token_reuse")
    # Raised after the commit so that the revocation above is kept.
    if known is None:
        raise Unauthorized("REFRESH_TOKEN_INVALID", "The refresh token is not recognised; sign in again.")
    if reused:
        raise Unauthorized(
            "REFRESH_TOKEN_REUSED", "This refresh token was already used; the session was ended for safety."
        )
    if known.expires_at <= datetime.datetime.now(datetime.UTC):
        raise Unauthorized("REFRESH_TOKEN_EXPIRED", "The refresh token has expired; sign in again.")
    raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")


async def _revoke_session(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> bool:
    revoked = await q.revoke_session(conn, session_id=session_id, user_id=user_id, reason=reason) == 1
    if revoked:
        await publish(conn, user_id, RealtimeEvent(SESSION_REVOKED, {"session_id": str(session_id)}))
    return revoked


async def sign_out(conn: Connection, caller: CurrentUser, refresh_token: str | None) -> None:
    """End the caller's session, and the session of `refresh_token` too when it is the caller's own."""
    async with conn.transaction():
        await _revoke_session(conn, caller.id, caller.session_id, "signout")
        if refresh_token is not None:
            other = await q.get_session_for_refresh_token(
                conn, token_hash=hash_refresh_token(refresh_token), user_id=caller.id
            )
            if other is not None and other != caller.session_id:
                await _revoke_session(conn, caller.id, other, "signout")


async def authenticate(conn: Connection, validator: AccessTokenValidator, token: str) -> CurrentUser:
    """Validate an access token and load its user, provided the session is still live."""
    claims = validator.validate(token)
    row = await q.get_session_user(conn, session_id=claims.session_id, user_id=claims.user_id)
    if row is None:
        raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")
    return CurrentUser(user=_user(row), session_id=claims.session_id, token_expires_at=claims.expires_at)


async def update_profile(conn: Connection, caller: CurrentUser, update: ProfileUpdate) -> User:
    row = await users_q.update_profile(
        conn,
        user_id=caller.id,
        name=update.name.strip() if update.name else None,
        avatar_url=update.avatar_url,
        onboarding_completed=update.onboarding_completed,
        default_serving_size=update.default_serving_size,
        meal_prep_enabled=update.meal_prep_enabled,
        default_meal_prep_count=update.default_meal_prep_count,
        kitchen_appliances=update.kitchen_appliances,
        dietary_preferences=update.dietary_preferences,
        cuisine_preferences=update.cuisine_preferences,
        cooking_skill_level=update.cooking_skill_level,
        time_zone=_known_time_zone(update.time_zone),
    )
    if row is None:
        raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
    return _user(row)


async def link_referral(conn: Connection, caller: CurrentUser, referral_code: str) -> bool:
    """Attribute the account to the creator link the code or slug names; the first valid attribution wins."""
    return await affiliate_links.attribute(conn, caller.id, referral_code)


async def delete_account(
    conn: Connection,
    passwords: Passwords,
    stripe_client: stripe.StripeClient | None,
    caller: CurrentUser,
    confirm_password: str,
) -> DeleteAccountResponse:
    """Cancel live Stripe subscriptions, then erase the account and everything it owns (ON DELETE CASCADE) in one
    transaction. If a subscription cannot be cancelled, nothing is erased."""
    password_hash = await q.get_password_hash(conn, user_id=caller.id)
    if not await passwords.verify(password_hash, confirm_password):
        raise Unauthorized("INVALID_PASSWORD", "The password is incorrect; the account was not deleted.")
    store_instructions = await close_billing(conn, stripe_client, caller.id)
    async with conn.transaction():
        await publish(conn, caller.id, RealtimeEvent(ACCOUNT_DELETED))
        await live.account_closing(conn, caller.id)
        if await q.delete_user(conn, user_id=caller.id) != 1:
            raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
    return DeleteAccountResponse(
        message="Your account and all of its data have been deleted."
        + (" Store subscriptions must still be cancelled in the store." if store_instructions else ""),
        deleted_at=datetime.datetime.now(datetime.UTC),
        store_subscriptions_to_cancel=store_instructions,
    )


async def export_account(conn: Connection, caller: CurrentUser) -> AccountExport:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        sessions = await q.export_sessions(conn, user_id=caller.id)
        referral = await q.export_referral(conn, user_id=caller.id)
        follows = await social_q.export_follows(conn, user_id=caller.id)
        subscriptions = await entitlements.user_subscriptions(conn, caller.id)
        history = await entitlements.status_history(conn, caller.id)
        validations = await purchases_q.list_validations(conn, user_id=caller.id)
        scans = await scans_q.export_scans(conn, user_id=caller.id)
        ai_usage = await ai_q.list_ai_usage(conn, user_id=caller.id)
        analytics_events = await analytics_q.export_analytics_events(conn, user_id=caller.id)
        recipes = await collections_q.list_own_recipes(conn, user_id=caller.id, max_rows=100_000, skip=0)
        activity = await collections_q.export_recipe_activity(conn, user_id=caller.id)
        xp_awards = await gamification_q.export_xp_ledger(conn, user_id=caller.id)
        streak = await gamification_q.get_streak(conn, user_id=caller.id)
        unlocked = await gamification_q.export_achievements(conn, user_id=caller.id)
        cooked = await gamification_q.export_cooking_log(conn, user_id=caller.id)
        hosted = await live_q.export_hosted_live_sessions(conn, user_id=caller.id)
        participations = await live_q.export_live_session_participations(conn, user_id=caller.id)
        invitations = await live_q.export_live_session_invitations(conn, user_id=caller.id)
        live_messages = await live_q.export_live_session_messages(conn, user_id=caller.id)
        affiliate = await creators_q.export_affiliate_links(conn, creator_id=caller.id)
        earnings = await creators_q.export_creator_earnings(conn, creator_id=caller.id)
        payouts = await payouts_q.export_creator_payouts(conn, creator_id=caller.id)
        payout_account = await payouts_q.export_payout_account(conn, creator_id=caller.id)
    return AccountExport(
        exported_at=datetime.datetime.now(datetime.UTC),
        user=caller.user,
        sessions=[msgspec.to_builtins(s) for s in sessions],
        referral=msgspec.to_builtins(referral) if referral else None,
        follows=[msgspec.to_builtins(f) for f in follows],
        subscriptions=subscriptions,
        subscription_history=history,
        purchase_validations=[msgspec.to_builtins(v) for v in validations],
        scans=[msgspec.to_builtins(s) for s in scans],
        ai_usage=[msgspec.to_builtins(u) for u in ai_usage],
        analytics_events=[msgspec.to_builtins(e) for e in analytics_events],
        recipes=[msgspec.to_builtins(r) for r in recipes],
        recipe_activity=[msgspec.to_builtins(a) for a in activity],
        xp_awards=[msgspec.to_builtins(x) for x in xp_awards],
        streak=msgspec.to_builtins(streak) if streak else None,
        achievements=[msgspec.to_builtins(a) for a in unlocked],
        cooking_log=[msgspec.to_builtins(c) for c in cooked],
        live_sessions_hosted=[msgspec.to_builtins(h) for h in hosted],
        live_session_participations=[msgspec.to_builtins(p) for p in participations],
        live_session_invitations=[msgspec.to_builtins(i) for i in invitations],
        live_session_messages=[msgspec.to_builtins(m) for m in live_messages],
        affiliate_links=[msgspec.to_builtins(a) for a in affiliate],
        creator_earnings=[msgspec.to_builtins(e) for e in earnings],
        creator_payouts=[msgspec.to_builtins(p) for p in payouts],
        payout_account=msgspec.to_builtins(payout_account) if payout_account else None,
    )
