"""Identity rules: accounts, sessions, token rotation with reuse detection, the profile."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import msgspec

from app.auth.emails import AccountMail, queue_account_email, queue_verification, timestamp
from app.auth.identities import password_not_set
from app.auth.password_policy import check_new_password
from app.auth.schemas import (
    AuthResponse,
    ChangePasswordRequest,
    Preferences,
    PreferencesUpdate,
    ProfileUpdate,
    SigninRequest,
    SignupRequest,
)
from app.core import avatars
from app.core.errors import Conflict, ErrorDetail, NotFound, Unauthorized, Unprocessable
from app.core.identity import CurrentUser
from app.core.passwords import Passwords, needs_rehash
from app.core.tokens import AccessTokenValidator, hash_refresh_token, new_refresh_token, successor_refresh_token
from app.db.queries import auth as q
from app.db.queries import recovery as recovery_q
from app.db.queries import users as users_q
from app.db.queries.rows import User
from app.db.types import Connection, ConnectionSource
from app.realtime.events import SESSION_REVOKED, RealtimeEvent, publish


@dataclass(frozen=True)
class Credentials:
    """What the credential flows need besides a connection: token issuing and password hashing."""

    validator: AccessTokenValidator
    access_ttl_seconds: int
    refresh_ttl: datetime.timedelta
    passwords: Passwords
    # Where the account's emails link to, and their Message-IDs' domain.
    mail: AccountMail
    # Days after their import during which the previous backend's refresh tokens are exchanged (once); 0: never.
    imported_refresh_window_days: int = 0
    # Seconds a just-spent refresh token still answers its successor (concurrent refreshes, a lost response).
    refresh_reuse_grace_seconds: int = 0
    # The key a spent refresh token's successor is derived with (`successor_refresh_token`).
    refresh_successor_key: bytes = b""


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


def new_session_refresh_token(issuer: Credentials, token: str | None = None) -> NewRefreshToken:
    token = new_refresh_token() if token is None else token
    expiry = datetime.datetime.now(datetime.UTC) + issuer.refresh_ttl
    return NewRefreshToken(token, hash_refresh_token(token), expiry)


async def auth_response(
    conn: Connection, issuer: Credentials, user_id: uuid.UUID, session_id: uuid.UUID, refresh_token: str
) -> AuthResponse:
    user = await q.get_session_user(conn, session_id=session_id, user_id=user_id)
    if user is None:
        raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")
    return AuthResponse(
        user=user,
        access_token=issuer.validator.issue(user_id, session_id),
        refresh_token=refresh_token,
        expires_in=issuer.access_ttl_seconds,
    )


# Sign-up and sign-in borrow connections only around their queries: no pooled connection waits while argon2id
# runs (tens of milliseconds, a few at a time per worker).


async def sign_up(connect: ConnectionSource, issuer: Credentials, request: SignupRequest) -> AuthResponse:
    check_new_password(request.password)
    email, name = normalise_email(request.email), request.name.strip()
    password_hash = await issuer.passwords.hash(request.password, account=email)
    refresh_token = new_session_refresh_token(issuer)
    async with connect() as conn:
        try:
            # The account and its verification email commit together (the email through the outbox).
            async with conn.transaction():
                created = await q.create_account(
                    conn,
                    email=email,
                    password_hash=password_hash,
                    name=name,
                    token_hash=refresh_token.token_hash,
                    expires_at=refresh_token.expires_at,
                )
                assert created is not None  # the statement inserts and returns exactly one row
                await queue_verification(conn, issuer.mail, created.user_id, email, name)
        except asyncpg.UniqueViolationError:
            raise Conflict("EMAIL_TAKEN", "An account with this email already exists.") from None
        return await auth_response(conn, issuer, created.user_id, created.session_id, refresh_token.token)


async def verify_credentials(connect: ConnectionSource, passwords: Passwords, email: str, password: str) -> uuid.UUID:
    """The account these credentials belong to; one message whichever part is wrong (no enumeration)."""
    email = normalise_email(email)
    async with connect() as conn:
        credentials = await q.get_credentials_by_email(conn, email=email)
    stored = credentials.password_hash if credentials else None  # None too for an account without a password
    valid = await passwords.verify(stored, password, account=email)
    if credentials is None or stored is None or not valid:
        raise Unauthorized("INVALID_CREDENTIALS", "The email or password is incorrect.")
    if needs_rehash(stored):
        # An imported bcrypt hash (or argon2id under older parameters) becomes argon2id on the first success, hashed
        # holding no connection; fenced by the hash just verified, so a password changed meanwhile is kept.
        upgraded = await passwords.hash(password, account=email)
        async with connect() as conn:
            await q.replace_password_hash(conn, new_hash=upgraded, user_id=credentials.id, old_hash=stored)
    return credentials.id


async def sign_in(connect: ConnectionSource, issuer: Credentials, request: SigninRequest) -> AuthResponse:
    user_id = await verify_credentials(connect, issuer.passwords, request.email, request.password)
    refresh_token = new_session_refresh_token(issuer)
    async with connect() as conn:
        session_id = await issue_session(conn, user_id, refresh_token)
        return await auth_response(conn, issuer, user_id, session_id, refresh_token.token)


async def issue_session(conn: Connection, user_id: uuid.UUID, refresh_token: NewRefreshToken) -> uuid.UUID:
    """A new session of the user, with `refresh_token` as its first refresh token."""
    session_id = await q.start_session(
        conn, user_id=user_id, token_hash=refresh_token.token_hash, expires_at=refresh_token.expires_at
    )
    assert session_id is not None  # the statement inserts and returns exactly one row
    return session_id


async def session_of_refresh_token(connect: ConnectionSource, refresh_token: str) -> uuid.UUID | None:
    """The session a refresh token belongs to (spent or not), which its refreshes are counted against."""
    async with connect() as conn:
        known = await q.get_refresh_token(conn, token_hash=hash_refresh_token(refresh_token))
    return known.session_id if known else None


async def refresh(connect: ConnectionSource, issuer: Credentials, refresh_token: str) -> AuthResponse:
    """Spend the refresh token and issue a new pair. Within the reuse grace the token just spent answers its
    successor again (the one already issued, derived from it), an imported token just exchanged too; any other
    reuse revokes the whole session (an imported token's is refused)."""
    token_hash = hash_refresh_token(refresh_token)
    successor = new_session_refresh_token(issuer, successor_refresh_token(issuer.refresh_successor_key, refresh_token))
    async with connect() as conn:
        rotated = await q.rotate_refresh_token(
            conn, token_hash=token_hash, new_token_hash=successor.token_hash, expires_at=successor.expires_at
        )
        if rotated is not None:
            return await auth_response(conn, issuer, rotated.user_id, rotated.session_id, successor.token)
        if again := await _issued_within_grace(conn, issuer, q.get_grace_successor, token_hash, successor):
            return again
        if issuer.imported_refresh_window_days > 0:
            exchanged = await q.exchange_imported_refresh_token(
                conn,
                token_hash=token_hash,
                window_days=issuer.imported_refresh_window_days,
                new_token_hash=successor.token_hash,
                expires_at=successor.expires_at,
            )
            if exchanged is not None:
                return await auth_response(conn, issuer, exchanged.user_id, exchanged.session_id, successor.token)
            # The app refreshing twice at once right after the move: the exchange's pair again.
            if again := await _issued_within_grace(conn, issuer, q.get_imported_grace_successor, token_hash, successor):
                return again
        # Not spendable: find out why, and end the session if a spent token came back.
        async with conn.transaction():
            known = await q.get_refresh_token(conn, token_hash=token_hash)
            reused = known is not None and known.spent_at is not None
            if known is not None and reused:
                await _revoke_session(conn, known.user_id, known.session_id, "refresh_token_reuse")
    # Raised after the commit so that the revocation above is kept.
    if known is None:
        await _refuse_imported_refresh_token(connect, issuer, token_hash)
        raise Unauthorized("REFRESH_TOKEN_INVALID", "The refresh token is not recognised; sign in again.")
    if reused:
        raise Unauthorized(
            "REFRESH_TOKEN_REUSED", "This refresh token was already used; the session was ended for safety."
        )
    if known.expires_at <= datetime.datetime.now(datetime.UTC):
        raise Unauthorized("REFRESH_TOKEN_EXPIRED", "The refresh token has expired; sign in again.")
    raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")


class _IssuedPair(Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def session_id(self) -> uuid.UUID: ...


async def _issued_within_grace(
    conn: Connection,
    issuer: Credentials,
    find: Callable[..., Awaitable[_IssuedPair | None]],
    token_hash: bytes,
    successor: NewRefreshToken,
) -> AuthResponse | None:
    """The answer again for a token spent (or exchanged) less than the reuse grace ago whose successor is unused:
    `find` looks the successor up (GetGraceSuccessor, GetImportedGraceSuccessor)."""
    if issuer.refresh_reuse_grace_seconds <= 0:
        return None
    issued = await find(
        conn,
        successor_hash=successor.token_hash,
        token_hash=token_hash,
        grace_seconds=issuer.refresh_reuse_grace_seconds,
    )
    if issued is None:
        return None
    return await auth_response(conn, issuer, issued.user_id, issued.session_id, successor.token)


async def _refuse_imported_refresh_token(connect: ConnectionSource, issuer: Credentials, token_hash: bytes) -> None:
    """Why an imported (previous backend's) refresh token was not exchanged, if it is one."""
    if issuer.imported_refresh_window_days <= 0:
        return
    async with connect() as conn:
        imported = await q.get_imported_refresh_token(conn, token_hash=token_hash)
    if imported is None:
        return
    if imported.exchanged_at is not None:
        raise Unauthorized("REFRESH_TOKEN_REUSED", "This refresh token was already exchanged; sign in again.")
    raise Unauthorized("REFRESH_TOKEN_EXPIRED", "The refresh token has expired; sign in again.")


async def _revoke_session(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> bool:
    revoked = await q.revoke_session(conn, session_id=session_id, user_id=user_id, reason=reason) == 1
    if revoked:
        await publish(conn, user_id, RealtimeEvent(SESSION_REVOKED, {"session_id": str(session_id)}))
    return revoked


async def revoke_sessions(
    conn: Connection, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """End every live session of the user but `keep`, telling each one's sockets (`session.revoked`)."""
    ended = await q.revoke_user_sessions(conn, reason=reason, user_id=user_id, keep_session_id=keep)
    for session_id in ended:
        await publish(conn, user_id, RealtimeEvent(SESSION_REVOKED, {"session_id": str(session_id)}))
    return ended


async def sign_out_everywhere(conn: Connection, caller: CurrentUser) -> None:
    """End every session of the caller, the current one included."""
    async with conn.transaction():
        await revoke_sessions(conn, caller.id, "signout_all")


async def change_password(
    connect: ConnectionSource, issuer: Credentials, caller: CurrentUser, request: ChangePasswordRequest
) -> None:
    """Set a new password after verifying the current one; end every other session and tell the owner by email.
    No connection is held while argon2id runs."""
    check_new_password(request.new_password)
    async with connect() as conn:
        current_hash = await q.get_password_hash(conn, user_id=caller.id)
    if current_hash is None:
        raise password_not_set("there is no current password to change")
    email = caller.user.email
    if not await issuer.passwords.verify(current_hash, request.current_password, account=email):
        raise Unauthorized("INVALID_PASSWORD", "The current password is incorrect; the password was not changed.")
    new_hash = await issuer.passwords.hash(request.new_password, account=email)
    async with connect() as conn, conn.transaction():
        if await q.replace_password_hash(conn, new_hash=new_hash, user_id=caller.id, old_hash=current_hash) != 1:
            raise Conflict("PASSWORD_CHANGED_MEANWHILE", "The password was changed meanwhile; sign in again.")
        await revoke_sessions(conn, caller.id, "password_change", keep=caller.session_id)
        await recovery_q.drop_unused_account_tokens(conn, user_id=caller.id, purpose="password_reset")
        await password_changed_notice(conn, issuer.mail, caller.id, caller.user.email, caller.user.name)


async def password_changed_notice(
    conn: Connection, mail: AccountMail, user_id: uuid.UUID, email: str, name: str
) -> None:
    """Queue "your password was changed" to the account's address (inside the change's transaction)."""
    await queue_account_email(
        conn,
        mail,
        "password_changed",
        recipient=email,
        user_id=user_id,
        values={"name": name, "when": timestamp(datetime.datetime.now(datetime.UTC))},
    )


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


async def update_profile(
    conn: Connection, caller: CurrentUser, update: ProfileUpdate, avatar_hosts: tuple[str, ...]
) -> User:
    """The editable fields; an avatar must be an https picture on one of `avatar_hosts` (SOCIAL_AVATAR_HOSTS)."""
    if update.avatar_url is not None:
        problem = avatars.avatar_problem(update.avatar_url, avatar_hosts)
        if problem is not None:
            raise Unprocessable(
                "AVATAR_URL_NOT_ALLOWED",
                "This avatar URL is not allowed.",
                details=[ErrorDetail(message=problem, field="avatar_url")],
            )
    return await _write_profile(conn, caller, update)


async def _write_profile(conn: Connection, caller: CurrentUser, update: ProfileUpdate) -> User:
    user = await users_q.update_profile(
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
    if user is None:
        raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
    return user


def preferences_of(user: User) -> Preferences:
    return msgspec.convert(user, Preferences, from_attributes=True)


async def update_preferences(conn: Connection, caller: CurrentUser, update: PreferencesUpdate) -> Preferences:
    """The same update as the profile's, limited to the preferences."""
    return preferences_of(await _write_profile(conn, caller, ProfileUpdate(**msgspec.structs.asdict(update))))
