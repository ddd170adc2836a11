-- XP: every award is a row of an append-only ledger, for an action of `xp_actions`, the one table of amounts and
-- daily caps. Clients never send amounts: the server awards in the transaction of the action that earns it, and the
-- app may only claim the few actions marked `claimable` (POST /gamification/add-xp).

create table xp_actions (
    action text primary key check (action ~ '^[a-z][a-z0-9_]{1,39}$'),
    amount integer not null check (amount between 1 and 10000),
    -- Awards of this action per user and UTC day; null: no cap (one-off awards, kept unique by their key).
    daily_cap integer check (daily_cap > 0),
    -- May the app claim it (things only the app sees, such as "I cooked this")? Everything else is awarded by
    -- the server when the action commits.
    claimable boolean not null default false,
    description text not null
);

insert into xp_actions (action, amount, daily_cap, claimable, description) values
    ('scan_completed', 10, 10, false, 'An ingredient scan that found ingredients'),
    ('recipe_generated', 15, 10, false, 'A full recipe written out from a session''s preview'),
    ('recipe_rated', 5, 10, false, 'A first rating of a recipe (changing it later earns nothing)'),
    ('recipe_cooked', 50, 5, true, 'The app says the user cooked a recipe (once per recipe and day)'),
    ('completion_photo', 25, 3, true, 'The app says the user photographed a finished recipe (once per recipe and day)'),
    ('recipe_shared', 10, 3, true, 'The app says the user shared a recipe (once per recipe and day)'),
    ('daily_check_in', 5, 1, true, 'The app was opened (once a day)');

create table xp_ledger (
    id bigint generated always as identity primary key,
    user_id uuid not null references users (id) on delete cascade,
    action text not null references xp_actions (action),
    amount integer not null check (amount > 0),
    -- What makes an award unique: a retry, a redelivery or a toggle of the same thing cannot earn twice.
    dedup_key text not null check (length(dedup_key) between 1 and 200),
    awarded_at timestamptz not null default now(),
    unique (user_id, action, dedup_key)
);
-- Daily caps count today's awards of one action; the progress and export read a user's rows.
create index xp_ledger_user_action_idx on xp_ledger (user_id, action, awarded_at);

-- Append-only: rows are never changed (account deletion removes them with the user).
create function refuse_xp_ledger_update() returns trigger language plpgsql as $$
begin
    raise exception 'xp_ledger is append-only';
end $$;
create trigger xp_ledger_append_only before update on xp_ledger
    for each row execute function refuse_xp_ledger_update();

-- Each user's total, kept with every award in the same transaction (the ledger's sum). Its row is also the lock
-- that serialises one user's awards, so a daily cap cannot be passed by concurrent requests.
create table xp_totals (
    user_id uuid primary key references users (id) on delete cascade,
    total_xp bigint not null default 0 check (total_xp >= 0),
    updated_at timestamptz not null default now()
);
