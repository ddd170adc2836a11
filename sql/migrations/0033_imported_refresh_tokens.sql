-- Refresh tokens of the previous backend (Supabase Auth's auth.refresh_tokens, not revoked when exported), so that a
-- signed-in app moves over without signing in again: `POST /auth/refresh` exchanges one once for this service's
-- pair during JWT_IMPORTED_REFRESH_WINDOW_DAYS after its import. Only the sha256 is kept, like our own tokens.
create table imported_refresh_tokens (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    imported_at timestamptz not null default now(),
    -- Set by the one exchange: the token never works again.
    exchanged_at timestamptz
);
create index imported_refresh_tokens_user_idx on imported_refresh_tokens (user_id);
