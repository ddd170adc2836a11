-- Live cooking sessions (docs/live-sessions.md): a host cooks step by step while guests follow over the WebSocket.
-- The state lives here, not in a worker's memory, so participants connected to different workers or machines see
-- the same session; each change is written and announced (pg_notify) in one transaction.
--
-- Every user column references users(id) ON DELETE CASCADE: a deleted host takes their sessions (with their
-- participants, invitations and messages) along; a deleted guest leaves no participation, invitation or message.

create table live_sessions (
    id uuid primary key default gen_random_uuid(),
    host_id uuid not null references users (id) on delete cascade,
    -- A catalog recipe or the host's own. Deleting the recipe leaves the session running, without it.
    recipe_id uuid references recipes (id) on delete set null,
    title text not null check (length(title) between 1 and 100),
    visibility text not null check (visibility in ('public', 'private')),
    -- The recipe's number of steps when the session started (null: no recipe, steps 0..100). 0 is "not started".
    step_count integer check (step_count >= 0),
    current_step integer not null default 0,
    status text not null default 'active' check (status in ('active', 'ended')),
    -- LIVE_MAX_PARTICIPANTS when the session started (host included).
    max_participants integer not null check (max_participants >= 2),
    -- Messages ever sent, against the per-session cap (kept here: the session row is locked for every change).
    message_count integer not null default 0 check (message_count >= 0),
    created_at timestamptz not null default now(),
    ended_at timestamptz,
    check (current_step between 0 and coalesce(step_count, 100)),
    check ((status = 'ended') = (ended_at is not null))
);
-- A host's active sessions (the LIVE_MAX_HOSTED cap) and the cascade from users.
create index live_sessions_host_idx on live_sessions (host_id, created_at desc);
-- Public active sessions, newest first; active ones by age (purge-expired ends those past LIVE_MAX_DURATION_HOURS).
create index live_sessions_public_idx on live_sessions (created_at desc, id)
    where status = 'active' and visibility = 'public';
create index live_sessions_active_idx on live_sessions (created_at) where status = 'active';
-- Ended sessions by age (purge-expired deletes those past LIVE_RETENTION_DAYS).
create index live_sessions_ended_idx on live_sessions (ended_at) where status = 'ended';

create table live_session_participants (
    session_id uuid not null references live_sessions (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    role text not null check (role in ('host', 'guest')),
    joined_at timestamptz not null default now(),
    -- Null while in the session; set when leaving (a later join clears it) and for everyone when it ends.
    left_at timestamptz,
    primary key (session_id, user_id)
);
create index live_session_participants_user_idx on live_session_participants (user_id, joined_at desc);

create table live_session_invitations (
    session_id uuid not null references live_sessions (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    invited_by uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (session_id, user_id)
);
create index live_session_invitations_user_idx on live_session_invitations (user_id, created_at desc);
create index live_session_invitations_invited_by_idx on live_session_invitations (invited_by);

create table live_session_messages (
    id bigint generated always as identity primary key,
    session_id uuid not null references live_sessions (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    body text not null check (length(body) between 1 and 500),
    created_at timestamptz not null default now()
);
create index live_session_messages_session_idx on live_session_messages (session_id, id);
create index live_session_messages_user_idx on live_session_messages (user_id, id);
