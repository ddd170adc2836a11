-- Account recovery and verification: single-use links for password resets and email verification (only a hash of
-- each token is stored), whether the account's address is verified, and the new reasons a session ends for.

alter table sessions drop constraint sessions_revoked_reason_check;
alter table sessions add constraint sessions_revoked_reason_check check (
    revoked_reason in ('signout', 'refresh_token_reuse', 'password_change', 'password_reset', 'signout_all')
);

alter table users add column email_verified boolean not null default false;

create table account_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    purpose text not null check (purpose in ('password_reset', 'email_verification')),
    -- sha256 of the token in the link: a copy of the table yields no usable link.
    token_hash bytea not null unique,
    -- email_verification: the address the link verifies (the account's own, or the new one of an email change).
    email text check (length(email) between 3 and 254),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);
create index account_tokens_user_idx on account_tokens (user_id, purpose);
create index account_tokens_expires_idx on account_tokens (expires_at);
