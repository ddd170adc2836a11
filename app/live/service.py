"""Live cooking sessions: create, invite, join, leave, step, message and end; the reads clients resync with.

Every change runs in one transaction: it locks the session row (so one session's changes apply one after the
other), checks, writes, and publishes its event to each person in the session; PostgreSQL delivers the events to
every worker's sockets only when the change commits. Membership belongs to the user, not to a socket: a dropped
connection leaves nobody, and a client that reconnects reads the state over HTTP (docs/live-sessions.md)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from app.core.errors import AppError, Conflict, ErrorDetail, Forbidden, NotFound, Unprocessable
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.queries import live as q
from app.db.types import Connection
from app.live.schemas import (
    LiveMessage,
    LiveParticipant,
    LiveRecipe,
    LiveSessionState,
    LiveSessionSummary,
    LiveSessionView,
    SentMessage,
    Visibility,
)
from app.realtime.events import RealtimeEvent, fits, publish, publish_each
from app.settings import LiveSettings

# Steps a session without a recipe may move through (0..100).
FREEFORM_STEPS = 100
# Invitations one session may hold, and messages it may ever have (bounds what one session stores).
MAX_INVITATIONS = 100
MAX_MESSAGES = 10_000
# Messages in a session's state (GET /api/v1/live-sessions/{id}); older ones page through .../messages.
RECENT_MESSAGES = 50

# Events, published to each person in the session (live.invited: to the invitee only).
LIVE_CREATED = "live.created"
LIVE_INVITED = "live.invited"
LIVE_JOINED = "live.joined"
LIVE_LEFT = "live.left"
LIVE_STEP = "live.step"
LIVE_MESSAGE = "live.message"
LIVE_ENDED = "live.ended"

EndReason = Literal["ended", "host_left", "time_limit", "host_deleted"]


def _session_not_found() -> NotFound:
    return NotFound("SESSION_NOT_FOUND", "There is no such live session.")


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        "VALIDATION_ERROR", f"Invalid value for {field}.", details=[ErrorDetail(message=message, field=field)]
    )


def _clean_text(value: str, field: str, *, multiline: bool) -> str:
    """`value` without surrounding white space; refused when empty or holding control characters (a message may
    hold line breaks and tabs)."""
    text = value.strip()
    if not text:
        raise _invalid(field, "Write at least one character that is not a space.")
    allowed = "\n\t" if multiline else ""
    if any((ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed for c in text):
        raise _invalid(field, "Control characters are not allowed.")
    return text


# The same columns: a session as locked for a change, or as just created.
SessionRow = q.LockLiveSessionRow | q.CreateLiveSessionRow


@dataclass(frozen=True)
class _Locked:
    """A session locked for a change, and who is in it at that moment."""

    row: SessionRow
    participant_ids: list[uuid.UUID]
    invited: bool  # the user the membership was read for is invited
    invitations: int

    def view(self, **changes: Any) -> LiveSessionView:
        row = self.row
        view = LiveSessionView(
            id=row.id,
            host_id=row.host_id,
            title=row.title,
            visibility=msgspec.convert(row.visibility, Visibility),
            recipe_id=row.recipe_id,
            step_count=row.step_count,
            current_step=row.current_step,
            status="active" if row.status == "active" else "ended",
            participant_count=len(self.participant_ids),
            max_participants=row.max_participants,
            created_at=row.created_at,
            ended_at=row.ended_at,
        )
        return msgspec.structs.replace(view, **changes)

    def require_active(self) -> None:
        if self.row.status != "active":
            raise Conflict("SESSION_ENDED", "This live session has ended.")

    def require_host(self, user_id: uuid.UUID) -> None:
        if self.row.host_id != user_id:
            raise Forbidden("NOT_HOST", "Only the session's host can do that.")

    def require_participant(self, user_id: uuid.UUID) -> None:
        if user_id not in self.participant_ids:
            raise Forbidden("NOT_PARTICIPANT", "Join the live session first.")


async def _lock(conn: Connection, session_id: uuid.UUID, user_id: uuid.UUID) -> _Locked:
    row = await q.lock_live_session(conn, session_id=session_id)
    if row is None:
        raise _session_not_found()
    # A statement of its own, after the lock: it sees what committed while the lock was awaited.
    members = await q.live_session_members(conn, session_id=session_id, user_id=user_id)
    if members is None:  # a select without FROM always answers one row
        raise AppError("INTERNAL_ERROR", "The live session could not be read.")
    return _Locked(row, members.participant_ids, members.invited, members.invitations)


def _ids(data: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in data.items()}


async def create(
    conn: Connection,
    limits: LiveSettings,
    host_id: uuid.UUID,
    *,
    title: str,
    visibility: Visibility,
    recipe_id: uuid.UUID | None,
) -> LiveSessionView:
    """Start a session hosted by `host_id`, who is its first participant; at most LIVE_MAX_HOSTED active at once."""
    title = _clean_text(title, "title", multiline=False)
    async with conn.transaction():
        if await q.lock_live_host(conn, host_id=host_id) is None:
            raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
        if (await q.count_active_hosted_live_sessions(conn, host_id=host_id) or 0) >= limits.max_hosted:
            raise Conflict(
                "LIVE_SESSION_LIMIT",
                f"You can host at most {limits.max_hosted} live sessions at once; end one first.",
            )
        step_count = None
        if recipe_id is not None:
            step_count = await q.recipe_step_count(conn, recipe_id=recipe_id, user_id=host_id)
            if step_count is None:
                raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe.")
        row = await q.create_live_session(
            conn,
            host_id=host_id,
            recipe_id=recipe_id,
            title=title,
            visibility=visibility,
            step_count=step_count,
            max_participants=limits.max_participants,
        )
        if row is None:  # an insert without conditions returns its row
            raise AppError("INTERNAL_ERROR", "The live session could not be created.")
        await publish(conn, host_id, RealtimeEvent(LIVE_CREATED, {"session_id": str(row.id)}))
    return _Locked(row, [host_id], invited=False, invitations=0).view()


@dataclass(frozen=True)
class InvitationLimits:
    """How much a host's invitations reach (they carry the host's title to anyone): so many a UTC day per host
    (RATE_LIMITED past it), and so many live.invited events a UTC day per host and invitee (past it the invitation
    is recorded, unannounced). Counted on the shared rate-limit counters, in the invitation's transaction: a refused
    invitation counts nothing."""

    limiter: RateLimiter
    per_host: RateLimit
    notices_per_pair: RateLimit

    @classmethod
    def create(cls, limiter: RateLimiter, limits: LiveSettings) -> InvitationLimits:
        day = 24 * 3600  # UTC days: windows start at the epoch
        return cls(
            limiter,
            RateLimit("live-invitations:host", limits.invitations_per_day, day),
            RateLimit("live-invitation-notice:pair", limits.invitation_notices_per_pair_per_day, day),
        )


async def invite(
    conn: Connection, invitations: InvitationLimits, caller_id: uuid.UUID, session_id: uuid.UUID, user_id: uuid.UUID
) -> LiveSessionView:
    """The host invites `user_id` (who is told with live.invited, within `invitations`' limits); inviting again
    changes nothing."""
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        locked.require_host(caller_id)
        if user_id == caller_id:
            raise _invalid("user_id", "You host this session; invite someone else.")
        if not locked.invited:
            if not await q.live_invitee_exists(conn, user_id=user_id):
                raise NotFound("USER_NOT_FOUND", "There is no such user.")
            if locked.invitations >= MAX_INVITATIONS:
                raise Conflict("INVITATION_LIMIT", f"A live session can have at most {MAX_INVITATIONS} invitations.")
            await invitations.limiter.check(conn, [(invitations.per_host, str(caller_id))])
            await q.invite_to_live_session(conn, session_id=session_id, user_id=user_id, invited_by=caller_id)
            if await invitations.limiter.within(conn, [(invitations.notices_per_pair, f"{caller_id}>{user_id}")]):
                data = {"session_id": session_id, "host_id": caller_id, "title": locked.row.title}
                await publish(conn, user_id, RealtimeEvent(LIVE_INVITED, _ids(data)))
    return locked.view()


async def join(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID) -> LiveSessionView:
    """Join (or rejoin) a public session, or a private one with an invitation; joining again changes nothing."""
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        if user_id in locked.participant_ids:
            return locked.view()
        if locked.row.visibility == "private" and not locked.invited:
            raise Forbidden("NOT_INVITED", "This live session is private: only invited people can join.")
        if len(locked.participant_ids) >= locked.row.max_participants:
            raise Conflict("SESSION_FULL", f"This live session is full ({locked.row.max_participants} people).")
        await q.join_live_session(conn, session_id=session_id, user_id=user_id)
        participants = [*locked.participant_ids, user_id]
        data = {"session_id": session_id, "user_id": user_id, "participant_count": len(participants)}
        await publish_each(conn, participants, RealtimeEvent(LIVE_JOINED, _ids(data)))
    return locked.view(participant_count=len(participants))


async def leave(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID) -> LiveSessionView:
    """Leave the session; when the host leaves, the session ends for everyone."""
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        locked.require_participant(user_id)
        if user_id == locked.row.host_id:
            return await _end(conn, locked, "host_left")
        await q.leave_live_session(conn, session_id=session_id, user_id=user_id)
        remaining = [p for p in locked.participant_ids if p != user_id]
        data = {"session_id": session_id, "user_id": user_id, "participant_count": len(remaining)}
        # The one leaving is told too: their other devices follow.
        await publish_each(conn, locked.participant_ids, RealtimeEvent(LIVE_LEFT, _ids(data)))
    return locked.view(participant_count=len(remaining))


async def set_step(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID, step: int) -> LiveSessionView:
    """The host moves the session to `step` (0 to the step count); the current step again changes nothing."""
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        locked.require_host(user_id)
        last = FREEFORM_STEPS if locked.row.step_count is None else locked.row.step_count
        if not 0 <= step <= last:
            raise _invalid("step", f"The step must be between 0 and {last}.")
        if step != locked.row.current_step:
            await q.set_live_session_step(conn, step=step, session_id=session_id)
            data = {"session_id": session_id, "step": step}
            await publish_each(conn, locked.participant_ids, RealtimeEvent(LIVE_STEP, _ids(data)))
    return locked.view(current_step=step)


def message_event(
    session_id: uuid.UUID, message_id: int, user_id: uuid.UUID, body: str, created_at: datetime.datetime
) -> RealtimeEvent:
    """live.message with its text when the event stays within the payload limit, else ids to fetch it by."""
    data = _ids({"session_id": session_id, "message_id": message_id, "user_id": user_id})
    data["created_at"] = created_at.isoformat()
    with_body = RealtimeEvent(LIVE_MESSAGE, {**data, "body": body})
    return with_body if fits(with_body) else RealtimeEvent(LIVE_MESSAGE, data)


async def send_message(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID, body: str) -> SentMessage:
    """A participant's message (at most 500 characters), stored and sent to everyone in the session."""
    text = _clean_text(body, "body", multiline=True)
    if len(text) > 500:
        raise _invalid("body", "A message has at most 500 characters.")
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        locked.require_participant(user_id)
        if locked.row.message_count >= MAX_MESSAGES:
            raise Conflict("MESSAGE_LIMIT", f"This live session has reached {MAX_MESSAGES} messages.")
        added = await q.add_live_session_message(conn, session_id=session_id, user_id=user_id, body=text)
        if added is None:  # an insert without conditions returns its row
            raise AppError("INTERNAL_ERROR", "The message could not be stored.")
        event = message_event(session_id, added.id, user_id, text, added.created_at)
        await publish_each(conn, locked.participant_ids, event)
    return SentMessage(session=locked.view(), message_id=added.id)


async def end(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID) -> LiveSessionView:
    """The host ends the session for everyone."""
    async with conn.transaction():
        locked = await _lock(conn, session_id, user_id)
        locked.require_active()
        locked.require_host(user_id)
        return await _end(conn, locked, "ended")


async def _end(conn: Connection, locked: _Locked, reason: EndReason) -> LiveSessionView:
    ended_at = await q.end_live_session(conn, session_id=locked.row.id)
    data = {"session_id": str(locked.row.id), "reason": reason}
    await publish_each(conn, locked.participant_ids, RealtimeEvent(LIVE_ENDED, data))
    return locked.view(status="ended", ended_at=ended_at, participant_count=0)


async def account_closing(conn: Connection, user_id: uuid.UUID) -> None:
    """In the transaction deleting `user_id`: tell the others in their active sessions (the cascade then removes
    the sessions they host, and their participation in the others)."""
    for session in await q.active_live_sessions_of(conn, user_id=user_id):
        if session.hosting:
            event = RealtimeEvent(LIVE_ENDED, {"session_id": str(session.id), "reason": "host_deleted"})
        else:
            data = {"session_id": session.id, "user_id": user_id, "participant_count": len(session.others)}
            event = RealtimeEvent(LIVE_LEFT, _ids(data))
        await publish_each(conn, session.others, event)


async def end_overdue(conn: Connection, *, started_before: datetime.datetime) -> int:
    """purge-expired: end the sessions active since before `started_before` (LIVE_MAX_DURATION_HOURS)."""
    ended = await q.end_overdue_live_sessions(conn, before=started_before)
    for session in ended:
        data = {"session_id": str(session.id), "reason": "time_limit"}
        await publish_each(conn, session.participant_ids, RealtimeEvent(LIVE_ENDED, data))
    return len(ended)


# --- reads ---


async def _visible(conn: Connection, viewer_id: uuid.UUID, session_id: uuid.UUID) -> q.GetLiveSessionRow:
    """The session if the viewer may see it: public, or they host it, were ever in it, or are invited."""
    row = await q.get_live_session(conn, viewer_id=viewer_id, session_id=session_id)
    if row is None or not (row.visibility == "public" or row.viewer_role is not None or row.viewer_invited):
        raise _session_not_found()
    return row


def _role(row: q.GetLiveSessionRow) -> Literal["host", "guest", "invited"] | None:
    if row.viewer_present and row.viewer_role in ("host", "guest"):
        return "host" if row.viewer_role == "host" else "guest"
    return "invited" if row.viewer_invited else None


async def state(conn: Connection, viewer_id: uuid.UUID, session_id: uuid.UUID) -> LiveSessionState:
    """What a client needs to (re)draw a session: its state, who is in it, its recipe and its newest messages."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await _visible(conn, viewer_id, session_id)
        participants = await q.list_live_session_participants(conn, session_id=session_id)
        messages = []
        if row.viewer_role is not None:
            newest = await q.recent_live_session_messages(conn, session_id=session_id, max_rows=RECENT_MESSAGES)
            messages = [LiveMessage(m.id, m.user_id, m.body, m.created_at) for m in reversed(newest)]
    recipe = None
    if row.recipe_id is not None and row.recipe_title is not None:
        recipe = LiveRecipe(row.recipe_id, row.recipe_title, msgspec.convert(row.recipe_steps, list[str]))
    return LiveSessionState(
        id=row.id,
        host_id=row.host_id,
        host_name=row.host_name,
        host_avatar_url=row.host_avatar_url,
        title=row.title,
        visibility=msgspec.convert(row.visibility, Visibility),
        status="active" if row.status == "active" else "ended",
        step_count=row.step_count,
        current_step=row.current_step,
        max_participants=row.max_participants,
        created_at=row.created_at,
        ended_at=row.ended_at,
        recipe=recipe,
        participants=[
            LiveParticipant(p.user_id, p.name, p.avatar_url, "host" if p.role == "host" else "guest", p.joined_at)
            for p in participants
        ],
        messages=messages,
        your_role=_role(row),
    )


async def messages_after(
    conn: Connection, viewer_id: uuid.UUID, session_id: uuid.UUID, *, after_id: int, limit: int
) -> list[LiveMessage]:
    """Messages after `after_id`, oldest first, for people who have been in the session."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await _visible(conn, viewer_id, session_id)
        if row.viewer_role is None:
            raise Forbidden("NOT_PARTICIPANT", "Join the live session to read its messages.")
        rows = await q.live_session_messages_after(conn, session_id=session_id, after_id=after_id, max_rows=limit)
    return [LiveMessage(m.id, m.user_id, m.body, m.created_at) for m in rows]


async def sessions_of(conn: Connection, user_id: uuid.UUID, *, limit: int) -> list[LiveSessionSummary]:
    """Active sessions the user is in or invited to, newest first."""
    rows = await q.list_my_live_sessions(conn, user_id=user_id, max_rows=limit)
    return [
        msgspec.structs.replace(_summary(r), your_role=msgspec.convert(r.role, Literal["host", "guest", "invited"]))
        for r in rows
    ]


async def public_sessions(conn: Connection, *, limit: int, offset: int) -> list[LiveSessionSummary]:
    """Active public sessions, newest first."""
    return [_summary(r) for r in await q.list_public_live_sessions(conn, skip=offset, max_rows=limit)]


def _summary(r: q.ListMyLiveSessionsRow | q.ListPublicLiveSessionsRow) -> LiveSessionSummary:
    return LiveSessionSummary(
        id=r.id,
        host_id=r.host_id,
        host_name=r.host_name,
        title=r.title,
        visibility=msgspec.convert(r.visibility, Visibility),
        recipe_id=r.recipe_id,
        step_count=r.step_count,
        current_step=r.current_step,
        participant_count=r.participant_count,
        max_participants=r.max_participants,
        created_at=r.created_at,
    )
