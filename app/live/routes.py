"""/api/v1/live-sessions: the reads a client resyncs with. Sessions change over the WebSocket (live.* requests,
docs/live-sessions.md); events carry ids and these routes carry the rest."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from app.core.identity import CurrentUser, provide_caller
from app.db.types import Connection
from app.live import service
from app.live.schemas import LiveMessageList, LiveSessionList, LiveSessionState


class LiveSessionController(Controller):
    path = "/api/v1/live-sessions"
    tags = ["live sessions"]
    dependencies = {"caller": Provide(provide_caller)}

    @get("/", operation_id="listLiveSessions")
    async def list_sessions(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        # `scope` in the query; the name is reserved for the ASGI scope in Litestar.
        which: Annotated[Literal["mine", "public"], QueryParameter(name="scope")] = "mine",
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000)] = 0,
    ) -> LiveSessionList:
        """`mine`: active sessions the caller is in or invited to (newest first, `limit` of them); `public`: active
        public sessions, newest first, a page at a time."""
        if which == "mine":
            return LiveSessionList(await service.sessions_of(db, caller.id, limit=limit))
        return LiveSessionList(await service.public_sessions(db, limit=limit, offset=offset))

    @get("/{session_id:uuid}", operation_id="getLiveSession")
    async def get_session(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], session_id: FromPath[uuid.UUID]
    ) -> LiveSessionState:
        """A session's state, who is in it, its recipe, and (for people who have joined it) its newest messages.
        404 unless it is public or the caller hosts it, has been in it, or is invited."""
        return await service.state(db, caller.id, session_id)

    @get("/{session_id:uuid}/messages", operation_id="listLiveSessionMessages")
    async def list_messages(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        session_id: FromPath[uuid.UUID],
        after: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> LiveMessageList:
        """Messages after the message id `after`, oldest first, for people who have been in the session."""
        return LiveMessageList(await service.messages_after(db, caller.id, session_id, after_id=after, limit=limit))
