-- Identity: accounts, sessions and their refresh tokens, referral placeholder, rate-limit counters.
-- Every table a user owns references users(id) ON DELETE CASCADE, so deleting the user row erases them all.

create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null,
    password_hash text not null,
    name text not null check (length(name) between 1 and 100),
    avatar_url text check (length(avatar_url) <= 2048),
    is_creator boolean not null default false,
    creator_tier text,
    onboarding_completed boolean not null default false,
    default_serving_size integer check (default_serving_size between 1 and 50),
    meal_prep_enabled boolean,
    default_meal_prep_count integer check (default_meal_prep_count between 1 and 21),
    kitchen_appliances text[] not null default '{}',
    dietary_preferences text[] not null default '{}',
    cuisine_preferences text[] not null default '{}',
    cooking_skill_level text check (cooking_skill_level in ('beginner', 'intermediate', 'advanced')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
-- Emails are compared case-insensitively; the unique index is what makes sign-up races safe.
create unique index users_email_key on users (lower(email));

-- One row per sign-in. Access tokens carry the session id, so revoking a session ends them at once.
create table sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    revoked_reason text check (revoked_reason in ('signout', 'refresh_token_reuse', 'password_change'))
);
create index sessions_user_idx on sessions (user_id);

create table refresh_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    -- Every token rotated from one sign-in belongs to its session (the token family).
    session_id uuid not null references sessions (id) on delete cascade,
    token_hash bytea not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    spent_at timestamptz,
    revoked_at timestamptz
);
create index refresh_tokens_user_idx on refresh_tokens (user_id);
create index refresh_tokens_session_idx on refresh_tokens (session_id);
create index refresh_tokens_expires_idx on refresh_tokens (expires_at);

-- Placeholder until creators exist: the code a user arrived with (first valid attribution wins).
create table referral_attributions (
    user_id uuid primary key references users (id) on delete cascade,
    referral_code text not null check (length(referral_code) between 1 and 64),
    linked_at timestamptz not null default now()
);

-- Fixed-window counters shared by every worker and machine.
create table rate_limit_counters (
    bucket text not null,
    window_start timestamptz not null,
    hits integer not null,
    primary key (bucket, window_start)
);
create index rate_limit_counters_window_idx on rate_limit_counters (window_start);
