-- Supabase access tokens during the move (docs/security.md, "Supabase access tokens during the move"): each Supabase
-- session (its tokens' session_id claim) that presents a token here is given one session of ours, created on first
-- use, so that sign-out, sign-out everywhere, a password change or reset and account deletion end it like any other.
create table supabase_sessions (
    supabase_session_id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    session_id uuid not null unique references sessions (id) on delete cascade,
    created_at timestamptz not null default now()
);
create index supabase_sessions_user_idx on supabase_sessions (user_id);
