"""Live cooking sessions: the WebSocket requests and replies, and the HTTP reads (docs/live-sessions.md).

Requests are strict (unknown fields refused) and tagged by their `type`; each may carry a client `ref` that the
reply echoes. Only public fields of other people appear here (id, name, avatar)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.errors import ErrorDetail

Visibility = Literal["public", "private"]
# What the client sent to match a reply to its request: a short string or a number.
Ref = Annotated[str, msgspec.Meta(max_length=64)] | int
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Step = Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class CreateSession(msgspec.Struct, frozen=True, tag_field="type", tag="live.create", forbid_unknown_fields=True):
    title: Title
    visibility: Visibility = "private"
    recipe_id: uuid.UUID | None = None
    ref: Ref | None = None


class InviteToSession(msgspec.Struct, frozen=True, tag_field="type", tag="live.invite", forbid_unknown_fields=True):
    session_id: uuid.UUID
    user_id: uuid.UUID
    ref: Ref | None = None


class JoinSession(msgspec.Struct, frozen=True, tag_field="type", tag="live.join", forbid_unknown_fields=True):
    session_id: uuid.UUID
    ref: Ref | None = None


class LeaveSession(msgspec.Struct, frozen=True, tag_field="type", tag="live.leave", forbid_unknown_fields=True):
    session_id: uuid.UUID
    ref: Ref | None = None


class SetStep(msgspec.Struct, frozen=True, tag_field="type", tag="live.step", forbid_unknown_fields=True):
    session_id: uuid.UUID
    step: Step
    ref: Ref | None = None


class SendMessage(msgspec.Struct, frozen=True, tag_field="type", tag="live.message", forbid_unknown_fields=True):
    session_id: uuid.UUID
    body: Body
    ref: Ref | None = None


class EndSession(msgspec.Struct, frozen=True, tag_field="type", tag="live.end", forbid_unknown_fields=True):
    session_id: uuid.UUID
    ref: Ref | None = None


LiveRequest = CreateSession | InviteToSession | JoinSession | LeaveSession | SetStep | SendMessage | EndSession
REQUEST_TYPES = frozenset(
    str(kind.__struct_config__.tag)
    for kind in (CreateSession, InviteToSession, JoinSession, LeaveSession, SetStep, SendMessage, EndSession)
)


class LiveSessionView(msgspec.Struct, frozen=True):
    """A session's state after a change, in every live.ok reply."""

    id: uuid.UUID
    host_id: uuid.UUID
    title: str
    visibility: Visibility
    recipe_id: uuid.UUID | None
    # Steps the host moves through: 0 (not started) to step_count (null: no recipe, 0 to 100).
    step_count: int | None
    current_step: int
    status: Literal["active", "ended"]
    participant_count: int
    max_participants: int
    created_at: datetime.datetime
    ended_at: datetime.datetime | None


class LiveOk(msgspec.Struct, frozen=True, tag_field="type", tag="live.ok", omit_defaults=True):
    action: str
    session: LiveSessionView
    ref: Ref | None = None
    message_id: int | None = None  # live.message: the stored message's id


class LiveError(msgspec.Struct, frozen=True, tag_field="type", tag="live.error", omit_defaults=True):
    """The HTTP error envelope's fields, with the request's type (when known) and ref."""

    code: str
    message: str
    request_id: str
    action: str | None = None
    ref: Ref | None = None
    details: list[ErrorDetail] | None = None


class SentMessage(msgspec.Struct, frozen=True):
    session: LiveSessionView
    message_id: int


# --- HTTP reads (resync) ---


class LiveParticipant(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    name: str
    avatar_url: str | None
    role: Literal["host", "guest"]
    joined_at: datetime.datetime


class LiveMessage(msgspec.Struct, frozen=True):
    id: int
    user_id: uuid.UUID
    body: str
    created_at: datetime.datetime


class LiveRecipe(msgspec.Struct, frozen=True):
    """The recipe the host cooks, shared with whoever can see the session (also the host's own recipes)."""

    id: uuid.UUID
    title: str
    steps: list[str]


class LiveSessionState(msgspec.Struct, frozen=True):
    id: uuid.UUID
    host_id: uuid.UUID
    host_name: str
    host_avatar_url: str | None
    title: str
    visibility: Visibility
    status: Literal["active", "ended"]
    step_count: int | None
    current_step: int
    max_participants: int
    created_at: datetime.datetime
    ended_at: datetime.datetime | None
    recipe: LiveRecipe | None
    # Who is in the session now, in joining order.
    participants: list[LiveParticipant]
    # The newest messages, oldest first; empty unless the caller has joined the session at some point.
    messages: list[LiveMessage]
    # host or guest while in the session; invited when invited and not in it; null otherwise.
    your_role: Literal["host", "guest", "invited"] | None


class LiveSessionSummary(msgspec.Struct, frozen=True):
    id: uuid.UUID
    host_id: uuid.UUID
    host_name: str
    title: str
    visibility: Visibility
    recipe_id: uuid.UUID | None
    step_count: int | None
    current_step: int
    participant_count: int
    max_participants: int
    created_at: datetime.datetime
    # scope=mine: host, guest or invited; scope=public: null.
    your_role: Literal["host", "guest", "invited"] | None = None


class LiveSessionList(msgspec.Struct, frozen=True):
    sessions: list[LiveSessionSummary]


class LiveMessageList(msgspec.Struct, frozen=True):
    messages: list[LiveMessage]
