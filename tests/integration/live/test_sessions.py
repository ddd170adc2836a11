"""Live cooking sessions, service layer: the rules of each change, the events each person in a session receives
(through real hubs LISTENing on PostgreSQL), limits under concurrency, the reads for resync, retention, account
deletion and export."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from app.billing.providers import PaymentProviders
from app.core.errors import AppError
from app.core.ratelimit import PostgresCounters, RateLimiter, pseudonym_key
from app.creators.billing_hooks import billing_hooks
from app.db.pool import connect, create_pool
from app.live import service
from app.ops.jobs import run_locked
from app.realtime import events
from app.realtime.hub import Hub
from app.settings import LiveSettings
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, sign_up

LIMITS = LiveSettings(max_participants=3, max_hosted=2)
INVITATIONS = service.InvitationLimits.create(RateLimiter(PostgresCounters(), pseudonym_key("tests")), LIMITS)
LIVE = "/api/v1/live-sessions"


class Inbox:
    """One user's socket as the hub sees it: records every event it is sent."""

    def __init__(self, hub: Hub, user_id: uuid.UUID) -> None:
        self._hub = hub
        self.user_id = user_id
        self.session_id = uuid.uuid4()
        self.events: asyncio.Queue[dict] = asyncio.Queue()

    async def send_event(self, payload: bytes) -> None:
        await self.events.put(msgspec.json.decode(payload))

    async def close(self, code: int, reason: str) -> None:
        self._hub.remove(self)  # as a real socket's handler does once its socket is closed

    async def next(self, timeout: float = 5) -> dict:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def quiet(self) -> bool:
        """Nothing more arrives (events of a committed change arrive together)."""
        await asyncio.sleep(0.2)
        return self.events.empty()


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    started = Hub(database_url)
    await started.start()
    yield started
    await started.stop()


def inbox(hub: Hub, user_id: uuid.UUID) -> Inbox:
    box = Inbox(hub, user_id)
    hub.add(box)
    return box


async def new_user(db: asyncpg.Connection, name: str = "Cook") -> uuid.UUID:
    user_id: uuid.UUID = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'not-a-hash', $2) returning id",
        f"live-{uuid.uuid4().hex[:12]}@example.com",
        name,
    )
    return user_id


async def own_recipe(db: asyncpg.Connection, owner: uuid.UUID, steps: int = 3) -> uuid.UUID:
    recipe_id: uuid.UUID = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Soup', '[]', $2) returning id",
        owner,
        [f"Step {n}" for n in range(1, steps + 1)],
    )
    return recipe_id


async def refused(code: str, change: object) -> AppError:
    assert asyncio.iscoroutine(change)
    with pytest.raises(AppError) as raised:
        await change
    assert raised.value.code == code, raised.value.message
    return raised.value


async def test_create_join_step_message_leave_end_reach_everyone_in_the_session(
    db: asyncpg.Connection, hub: Hub
) -> None:
    host, guest = await new_user(db, "Host"), await new_user(db, "Guest")
    host_box, guest_box = inbox(hub, host), inbox(hub, guest)
    recipe = await own_recipe(db, host, steps=3)

    created = await service.create(db, LIMITS, host, title="  Sunday soup ", visibility="public", recipe_id=recipe)
    assert (created.title, created.status, created.step_count, created.current_step) == ("Sunday soup", "active", 3, 0)
    assert (created.participant_count, created.max_participants, created.recipe_id) == (1, 3, recipe)
    assert await host_box.next() == {"type": "live.created", "data": {"session_id": str(created.id)}}
    sid = str(created.id)

    joined = await service.join(db, guest, created.id)
    assert joined.participant_count == 2
    for box in (host_box, guest_box):
        event = await box.next()
        assert event == {
            "type": "live.joined",
            "data": {"session_id": sid, "user_id": str(guest), "participant_count": 2},
        }
    assert (await service.join(db, guest, created.id)).participant_count == 2  # joining again: nothing happens
    assert await guest_box.quiet()

    stepped = await service.set_step(db, host, created.id, 2)
    assert stepped.current_step == 2
    for box in (host_box, guest_box):
        assert await box.next() == {"type": "live.step", "data": {"session_id": sid, "step": 2}}
    await service.set_step(db, host, created.id, 2)  # the current step again: no event
    assert await guest_box.quiet()

    sent = await service.send_message(db, guest, created.id, "  Is it simmering?\n")
    for box in (host_box, guest_box):
        event = await box.next()
        assert event["type"] == "live.message"
        assert event["data"]["body"] == "Is it simmering?"
        assert (event["data"]["message_id"], event["data"]["user_id"]) == (sent.message_id, str(guest))

    left = await service.leave(db, guest, created.id)
    assert left.participant_count == 1
    for box in (host_box, guest_box):  # the one leaving hears it too (their other devices)
        assert (await box.next())["data"] == {"session_id": sid, "user_id": str(guest), "participant_count": 1}

    ended = await service.end(db, host, created.id)
    assert (ended.status, ended.participant_count) == ("ended", 0)
    assert ended.ended_at is not None
    assert await host_box.next() == {"type": "live.ended", "data": {"session_id": sid, "reason": "ended"}}
    assert await guest_box.quiet()  # no longer in it
    row = await db.fetchrow("select status, ended_at, current_step from live_sessions where id = $1", created.id)
    assert (row["status"], row["ended_at"], row["current_step"]) == ("ended", ended.ended_at, 2)
    assert await db.fetchval("select count(*) from live_session_participants where left_at is null") == 0
    assert await db.fetchval("select count(*) from live_session_messages where session_id = $1", created.id) == 1


async def test_a_private_session_admits_only_invited_people(db: asyncpg.Connection, hub: Hub) -> None:
    host, invitee, stranger = await new_user(db), await new_user(db), await new_user(db)
    invitee_box = inbox(hub, invitee)
    session = await service.create(db, LIMITS, host, title="Secret", visibility="private", recipe_id=None)

    await refused("NOT_INVITED", service.join(db, invitee, session.id))
    await refused("NOT_HOST", service.invite(db, INVITATIONS, stranger, session.id, invitee))
    await refused("VALIDATION_ERROR", service.invite(db, INVITATIONS, host, session.id, host))
    await refused("USER_NOT_FOUND", service.invite(db, INVITATIONS, host, session.id, uuid.uuid4()))

    await service.invite(db, INVITATIONS, host, session.id, invitee)
    event = await invitee_box.next()
    assert event == {
        "type": "live.invited",
        "data": {"session_id": str(session.id), "host_id": str(host), "title": "Secret"},
    }
    await service.invite(db, INVITATIONS, host, session.id, invitee)  # again: nothing new
    assert await invitee_box.quiet()

    assert (await service.join(db, invitee, session.id)).participant_count == 2
    await refused("NOT_INVITED", service.join(db, stranger, session.id))
    # At most MAX_INVITATIONS per session; re-inviting someone already invited is still fine.
    await db.execute(
        """
        with many as (
            insert into users (email, password_hash, name)
            select 'invited-' || n || '-' || $3::text || '@example.com', 'not-a-hash', 'Invited ' || n
            from generate_series(1, $2::integer - 1) as n
            returning id
        )
        insert into live_session_invitations (session_id, user_id, invited_by) select $1, id, $4 from many
        """,
        session.id,
        service.MAX_INVITATIONS,
        uuid.uuid4().hex,
        host,
    )
    await refused("INVITATION_LIMIT", service.invite(db, INVITATIONS, host, session.id, stranger))
    await service.invite(db, INVITATIONS, host, session.id, invitee)
    # Leaving and coming back needs no new invitation.
    await service.leave(db, invitee, session.id)
    assert (await service.join(db, invitee, session.id)).participant_count == 2


async def test_only_the_host_steps_invites_and_ends(db: asyncpg.Connection) -> None:
    host, guest = await new_user(db), await new_user(db)
    recipe = await own_recipe(db, host, steps=4)
    session = await service.create(db, LIMITS, host, title="Steps", visibility="public", recipe_id=recipe)
    await service.join(db, guest, session.id)

    await refused("NOT_HOST", service.set_step(db, guest, session.id, 1))
    await refused("NOT_HOST", service.end(db, guest, session.id))
    error = await refused("VALIDATION_ERROR", service.set_step(db, host, session.id, 5))
    assert error.details is not None and error.details[0].field == "step"
    assert (await service.set_step(db, host, session.id, 4)).current_step == 4
    assert (await service.set_step(db, host, session.id, 0)).current_step == 0
    # Without a recipe the host moves through 0..100.
    free = await service.create(db, LIMITS, host, title="Free", visibility="public", recipe_id=None)
    assert free.step_count is None
    assert (await service.set_step(db, host, free.id, service.FREEFORM_STEPS)).current_step == 100
    await refused("VALIDATION_ERROR", service.set_step(db, host, free.id, 101))


async def test_an_ended_session_refuses_every_action(db: asyncpg.Connection) -> None:
    host, guest, other = await new_user(db), await new_user(db), await new_user(db)
    session = await service.create(db, LIMITS, host, title="Done", visibility="public", recipe_id=None)
    await service.join(db, guest, session.id)
    await service.end(db, host, session.id)
    for change in (
        service.join(db, other, session.id),
        service.leave(db, guest, session.id),
        service.set_step(db, host, session.id, 1),
        service.send_message(db, guest, session.id, "hello?"),
        service.invite(db, INVITATIONS, host, session.id, other),
        service.end(db, host, session.id),
    ):
        await refused("SESSION_ENDED", change)
    await refused("SESSION_NOT_FOUND", service.join(db, guest, uuid.uuid4()))


async def test_the_host_leaving_ends_the_session(db: asyncpg.Connection, hub: Hub) -> None:
    host, guest = await new_user(db), await new_user(db)
    guest_box = inbox(hub, guest)
    session = await service.create(db, LIMITS, host, title="Bye", visibility="public", recipe_id=None)
    await service.join(db, guest, session.id)
    await guest_box.next()
    left = await service.leave(db, host, session.id)
    assert left.status == "ended"
    assert await guest_box.next() == {
        "type": "live.ended",
        "data": {"session_id": str(session.id), "reason": "host_left"},
    }
    assert (await db.fetchrow("select status from live_sessions where id = $1", session.id))["status"] == "ended"


async def test_sessions_fill_up_and_hosts_have_a_cap_also_under_concurrency(
    db: asyncpg.Connection, database_url: str
) -> None:
    host = await new_user(db)
    guests = [await new_user(db) for _ in range(6)]
    session = await service.create(db, LIMITS, host, title="Full", visibility="public", recipe_id=None)
    connections = [await connect(database_url) for _ in guests]
    try:
        outcomes = await asyncio.gather(
            *(service.join(c, g, session.id) for c, g in zip(connections, guests, strict=True)),
            return_exceptions=True,
        )
        # max_participants 3: the host and two guests, whatever the interleaving.
        assert sum(not isinstance(o, Exception) for o in outcomes) == 2
        assert {o.code for o in outcomes if isinstance(o, AppError)} == {"SESSION_FULL"}
        # Two more sessions at once from the same host: the cap (2 active) admits one of them.
        made = await asyncio.gather(
            *(
                service.create(c, LIMITS, host, title=f"S{n}", visibility="public", recipe_id=None)
                for n, c in enumerate(connections[:2])
            ),
            return_exceptions=True,
        )
    finally:
        for conn in connections:
            await conn.close()
    assert sorted(type(m).__name__ for m in made) == ["Conflict", "LiveSessionView"]
    assert next(m for m in made if isinstance(m, AppError)).code == "LIVE_SESSION_LIMIT"
    assert await db.fetchval("select count(*) from live_session_participants where session_id = $1", session.id) == 3
    await service.end(db, host, session.id)  # ending one makes room
    await service.create(db, LIMITS, host, title="Again", visibility="public", recipe_id=None)


async def test_messages_are_checked_and_carry_their_text_only_when_it_fits(
    db: asyncpg.Connection, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, outsider = await new_user(db), await new_user(db)
    host_box = inbox(hub, host)
    session = await service.create(db, LIMITS, host, title="Chat", visibility="public", recipe_id=None)
    await host_box.next()
    for body in ("   ", "bell\x07", "x" * 501):
        error = await refused("VALIDATION_ERROR", service.send_message(db, host, session.id, body))
        assert error.details is not None and error.details[0].field == "body"
    await refused("NOT_PARTICIPANT", service.send_message(db, outsider, session.id, "let me in"))
    # 500 four-byte characters: the longest body in bytes still travels in the event.
    longest = "\U0001f372" * 500
    await service.send_message(db, host, session.id, longest)
    assert (await host_box.next())["data"]["body"] == longest
    # A body that does not fit the payload limit is left out: clients fetch it by id.
    monkeypatch.setattr(events, "MAX_PAYLOAD_BYTES", 400)
    sent = await service.send_message(db, host, session.id, "y" * 300)
    event = await host_box.next()
    assert "body" not in event["data"]
    assert event["data"]["message_id"] == sent.message_id


async def test_a_message_cap_bounds_each_session(db: asyncpg.Connection) -> None:
    host = await new_user(db)
    session = await service.create(db, LIMITS, host, title="Busy", visibility="public", recipe_id=None)
    await db.execute("update live_sessions set message_count = $2 where id = $1", session.id, service.MAX_MESSAGES)
    await refused("MESSAGE_LIMIT", service.send_message(db, host, session.id, "one more"))


async def test_the_recipe_must_be_the_hosts_to_cook_and_may_go_away(db: asyncpg.Connection) -> None:
    host, other = await new_user(db), await new_user(db)
    theirs = await own_recipe(db, other)
    await refused(
        "RECIPE_NOT_FOUND", service.create(db, LIMITS, host, title="x", visibility="public", recipe_id=theirs)
    )
    await refused(
        "RECIPE_NOT_FOUND", service.create(db, LIMITS, host, title="x", visibility="public", recipe_id=uuid.uuid4())
    )
    await refused(
        "VALIDATION_ERROR", service.create(db, LIMITS, host, title=" \t", visibility="public", recipe_id=None)
    )
    await refused(
        "VALIDATION_ERROR", service.create(db, LIMITS, host, title="a\nb", visibility="public", recipe_id=None)
    )
    mine = await own_recipe(db, host, steps=2)
    session = await service.create(db, LIMITS, host, title="Mine", visibility="public", recipe_id=mine)
    await db.execute("delete from recipes where id = $1", mine)
    row = await db.fetchrow("select recipe_id, step_count from live_sessions where id = $1", session.id)
    assert (row["recipe_id"], row["step_count"]) == (None, 2)
    assert (await service.set_step(db, host, session.id, 2)).current_step == 2


async def test_reads_show_a_session_to_those_who_may_see_it(client, db: asyncpg.Connection) -> None:
    host, guest, invitee, stranger = [await sign_up(client, name=n) for n in ("Host", "Guest", "Invitee", "Stranger")]
    ids = {
        name: uuid.UUID(a["user"]["id"])
        for name, a in zip(("host", "guest", "invitee", "stranger"), (host, guest, invitee, stranger), strict=True)
    }
    recipe = await own_recipe(db, ids["host"], steps=2)
    private = await service.create(db, LIMITS, ids["host"], title="Private", visibility="private", recipe_id=recipe)
    public = await service.create(db, LIMITS, ids["host"], title="Public", visibility="public", recipe_id=None)
    await service.invite(db, INVITATIONS, ids["host"], private.id, ids["guest"])
    await service.join(db, ids["guest"], private.id)
    await service.invite(db, INVITATIONS, ids["host"], private.id, ids["invitee"])
    sent = [await service.send_message(db, ids["guest"], private.id, f"message {n}") for n in range(3)]

    state = (await client.get(f"{LIVE}/{private.id}", headers=bearer(guest))).json()
    assert (state["title"], state["your_role"], state["host_name"]) == ("Private", "guest", "Host")
    assert state["recipe"] == {"id": str(recipe), "title": "Soup", "steps": ["Step 1", "Step 2"]}
    assert [p["name"] for p in state["participants"]] == ["Host", "Guest"]
    assert set(state["participants"][0]) == {"user_id", "name", "avatar_url", "role", "joined_at"}
    assert [m["body"] for m in state["messages"]] == ["message 0", "message 1", "message 2"]
    as_invitee = (await client.get(f"{LIVE}/{private.id}", headers=bearer(invitee))).json()
    assert (as_invitee["your_role"], as_invitee["messages"]) == ("invited", [])
    hidden = await client.get(f"{LIVE}/{private.id}", headers=bearer(stranger))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "SESSION_NOT_FOUND")
    seen = (await client.get(f"{LIVE}/{public.id}", headers=bearer(stranger))).json()
    assert (seen["your_role"], seen["recipe"], seen["messages"]) == (None, None, [])

    page = await client.get(
        f"{LIVE}/{private.id}/messages", params={"after": sent[0].message_id, "limit": 1}, headers=bearer(guest)
    )
    assert [m["id"] for m in page.json()["messages"]] == [sent[1].message_id]
    not_joined = await client.get(f"{LIVE}/{private.id}/messages", headers=bearer(invitee))
    assert (not_joined.status_code, not_joined.json()["code"]) == (403, "NOT_PARTICIPANT")

    mine = (await client.get(LIVE, headers=bearer(invitee))).json()["sessions"]
    assert [(s["title"], s["your_role"]) for s in mine] == [("Private", "invited")]
    hosting = (await client.get(LIVE, params={"scope": "mine"}, headers=bearer(host))).json()["sessions"]
    assert [(s["title"], s["your_role"], s["participant_count"]) for s in hosting] == [
        ("Public", "host", 1),
        ("Private", "host", 2),
    ]
    listed = (await client.get(LIVE, params={"scope": "public"}, headers=bearer(stranger))).json()["sessions"]
    assert [s["title"] for s in listed] == ["Public"]
    assert (await client.get(LIVE, params={"scope": "all"}, headers=bearer(host))).status_code == 422
    assert (await client.get(LIVE)).status_code == 401


async def test_purge_expired_ends_overdue_sessions_and_deletes_old_ones(
    db: asyncpg.Connection, database_url: str, hub: Hub
) -> None:
    host, guest = await new_user(db), await new_user(db)
    guest_box = inbox(hub, guest)
    overdue = await service.create(db, LIMITS, host, title="Long", visibility="public", recipe_id=None)
    fresh = await service.create(db, LIMITS, host, title="Fresh", visibility="public", recipe_id=None)
    await service.join(db, guest, overdue.id)
    await service.send_message(db, guest, overdue.id, "still here")
    await guest_box.next()
    await guest_box.next()
    await db.execute("update live_sessions set created_at = now() - interval '13 hours' where id = $1", overdue.id)
    settings = make_settings(database_url)
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        outcome = await run_locked("purge-expired", pool, settings, payments)
        assert "ended 1 live session(s) past their time and deleted 0 ended past retention" in outcome
        assert await guest_box.next() == {
            "type": "live.ended",
            "data": {"session_id": str(overdue.id), "reason": "time_limit"},
        }
        statuses = dict(await db.fetch("select id, status from live_sessions"))
        assert statuses == {overdue.id: "ended", fresh.id: "active"}
        await db.execute("update live_sessions set ended_at = now() - interval '31 days' where id = $1", overdue.id)
        outcome = await run_locked("purge-expired", pool, settings, payments)
        assert "deleted 1 ended past retention" in outcome
    finally:
        await payments.close()
        await pool.close()
    assert [r["id"] for r in await db.fetch("select id from live_sessions")] == [fresh.id]
    for table in ("live_session_participants", "live_session_messages"):
        assert await db.fetchval(f"select count(*) from {table} where session_id = $1", overdue.id) == 0


async def test_account_deletion_cascades_and_tells_the_others(client, db: asyncpg.Connection, hub: Hub) -> None:
    host, guest, leaving = [await sign_up(client, name=n) for n in ("Host", "Guest", "Leaving")]
    host_id, guest_id, leaving_id = (uuid.UUID(a["user"]["id"]) for a in (host, guest, leaving))
    host_box, guest_box = inbox(hub, host_id), inbox(hub, guest_id)
    session = await service.create(db, LIMITS, host_id, title="Both", visibility="private", recipe_id=None)
    for user in (guest_id, leaving_id):
        await service.invite(db, INVITATIONS, host_id, session.id, user)
        await service.join(db, user, session.id)
    await service.send_message(db, leaving_id, session.id, "bye")
    await asyncio.sleep(0.3)
    while not host_box.events.empty():
        host_box.events.get_nowait()
    while not guest_box.events.empty():
        guest_box.events.get_nowait()

    gone = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(leaving), json={"confirm_password": PASSWORD}
    )
    assert gone.status_code == 200, gone.text
    for box in (host_box, guest_box):
        assert await box.next() == {
            "type": "live.left",
            "data": {"session_id": str(session.id), "user_id": str(leaving_id), "participant_count": 2},
        }
    for table in ("live_session_participants", "live_session_invitations", "live_session_messages"):
        assert await db.fetchval(f"select count(*) from {table} where user_id = $1", leaving_id) == 0, table

    gone = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(host), json={"confirm_password": PASSWORD}
    )
    assert gone.status_code == 200, gone.text
    assert await guest_box.next() == {
        "type": "live.ended",
        "data": {"session_id": str(session.id), "reason": "host_deleted"},
    }
    assert await db.fetchval("select count(*) from live_sessions") == 0
    assert await db.fetchval("select count(*) from live_session_participants") == 0
    # host_id and invited_by cascade too (the user_id schema test does not see those names).
    cascading = await db.fetch(
        """
        select k.conrelid::regclass::text as owner, a.attname
        from pg_constraint k
        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any (k.conkey)
        where k.contype = 'f' and k.confrelid = 'users'::regclass and k.confdeltype = 'c'
          and k.conrelid::regclass::text like 'live_%'
        order by 1, 2
        """
    )
    assert [(r["owner"], r["attname"]) for r in cascading] == [
        ("live_session_invitations", "invited_by"),
        ("live_session_invitations", "user_id"),
        ("live_session_messages", "user_id"),
        ("live_session_participants", "user_id"),
        ("live_sessions", "host_id"),
    ]


async def test_the_export_lists_live_sessions_and_nothing_of_other_people(client, db: asyncpg.Connection) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    ada_id, bob_id = uuid.UUID(ada["user"]["id"]), uuid.UUID(bob["user"]["id"])
    hosted = await service.create(db, LIMITS, ada_id, title="Ada cooks", visibility="public", recipe_id=None)
    bobs = await service.create(db, LIMITS, bob_id, title="Bob cooks", visibility="private", recipe_id=None)
    await service.invite(db, INVITATIONS, bob_id, bobs.id, ada_id)
    await service.join(db, ada_id, bobs.id)
    mine = await service.send_message(db, ada_id, bobs.id, "Ada was here")
    await service.send_message(db, bob_id, bobs.id, "Bob's secret words")

    body = (await client.get("/api/v1/auth/export", headers=bearer(ada))).json()
    assert [(s["id"], s["title"]) for s in body["live_sessions_hosted"]] == [(str(hosted.id), "Ada cooks")]
    assert sorted((p["session_id"], p["role"]) for p in body["live_session_participations"]) == sorted(
        [(str(hosted.id), "host"), (str(bobs.id), "guest")]
    )
    assert [(i["session_id"], i["invited_by"]) for i in body["live_session_invitations"]] == [
        (str(bobs.id), str(bob_id))
    ]
    assert [(m["id"], m["body"]) for m in body["live_session_messages"]] == [(mine.message_id, "Ada was here")]
    text = msgspec.json.encode(body).decode()
    assert "Bob's secret words" not in text
    assert "Bob cooks" not in text


async def test_events_fit_the_payload_limit_and_go_to_each_recipient_once(db: asyncpg.Connection, hub: Hub) -> None:
    user = await new_user(db)
    box = inbox(hub, user)
    async with db.transaction():
        await events.publish_each(db, [user, user], events.RealtimeEvent("x.y", {"n": 1}))
        await events.publish_each(db, [], events.RealtimeEvent("never"))
    assert await box.next() == {"type": "x.y", "data": {"n": 1}}
    assert await box.quiet()
    assert not events.fits(events.RealtimeEvent("big", {"blob": "x" * events.MAX_PAYLOAD_BYTES}))
    created = datetime.datetime.now(datetime.UTC)
    assert events.fits(service.message_event(uuid.uuid4(), 2**62, user, "\U0001f372" * 500, created))
