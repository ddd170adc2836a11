-- Recipe generation: the user's preview sessions, and a cache of AI generations shared by everyone, keyed by
-- what determines the answer (normalised ingredients, preferences, meal type, model, prompt version).

create table recipe_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    -- The request as normalised (ingredients, preferences) and the previews shown: [{id, title, ...}].
    request jsonb not null,
    previews jsonb not null check (jsonb_typeof(previews) = 'array'),
    source text not null check (source in ('ai', 'catalog')),
    created_at timestamptz not null default now()
);
create index recipe_sessions_user_idx on recipe_sessions (user_id, created_at desc);

-- One row per cache key. A request that finds no row claims it ('pending', with a lease), calls the model and
-- stores the answer ('ready'); identical requests meanwhile wait for it instead of calling the model again
-- (single flight across workers and machines). A claim whose lease ran out is taken over.
create table generation_cache (
    cache_key text primary key check (length(cache_key) = 64),
    kind text not null check (kind in ('previews', 'recipe')),
    status text not null check (status in ('pending', 'ready')),
    value jsonb,
    model text,
    claimed_until timestamptz,
    hits integer not null default 0 check (hits >= 0),
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    check ((status = 'ready') = (value is not null))
);
create index generation_cache_expiry_idx on generation_cache (expires_at) where status = 'ready';
