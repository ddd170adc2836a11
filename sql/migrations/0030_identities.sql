-- Sign-in identities besides email and password (Sign in with Apple, Sign in with Google): one row per provider
-- account, bound to exactly one CookCam account. The provider's `sub` is the key; the email it reported is kept
-- for linking rules and display only (Apple's private-relay addresses included), never as the account's login.
create table user_identities (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider in ('apple', 'google')),
    -- The provider's stable account id: `sub` of its identity token.
    subject text not null check (length(subject) between 1 and 255),
    email text check (length(email) <= 320),
    email_verified boolean not null default false,
    created_at timestamptz not null default now(),
    last_sign_in_at timestamptz,
    unique (provider, subject)
);
create index user_identities_user_idx on user_identities (user_id);
