-- Social: who follows whom, and finding people by name.
--
-- Both user columns reference users(id) ON DELETE CASCADE: deleting an account removes the accounts it follows and
-- the accounts following it (tests/integration/social checks both directions; the schema test of user_id columns
-- does not see these names).

create table follows (
    follower_id uuid not null references users (id) on delete cascade,
    followee_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    -- One row per pair: concurrent follows of the same account cannot make duplicates.
    primary key (follower_id, followee_id),
    check (follower_id <> followee_id)
);
-- A user's followers, newest first (the list, the count, and the cascade from the followee). The primary key serves
-- "whom does X follow" lookups; this one serves that list newest first.
create index follows_followee_idx on follows (followee_id, created_at desc, follower_id);
create index follows_follower_created_idx on follows (follower_id, created_at desc, followee_id);

-- Name search without pg_trgm (the embedded PostgreSQL ships no contrib modules, docs/architecture.md):
-- every three-character substring of a value, taken as it is (callers lower-case it first). A name containing the
-- query contains all of the query's substrings, so the GIN index below finds the candidates of a substring search
-- and LIKE confirms them; queries of one or two characters search name prefixes through the btree index instead,
-- which also gives their order (lower-cased names by code point, whatever the database's collation, then id).
create function cookcam_name_grams(value text) returns text[]
language sql immutable strict parallel safe
as $$
    select coalesce(array_agg(distinct substr(value, i, 3)), '{}')
    from generate_series(1, length(value) - 2) as i
$$;

create index users_name_grams_idx on users using gin (cookcam_name_grams(lower(name)));
create index users_name_prefix_idx on users ((lower(name) collate "C"), id);
