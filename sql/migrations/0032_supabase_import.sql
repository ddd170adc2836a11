-- The one-time import of the previous backend's accounts (`cookcam import supabase`, docs/runbooks/supabase-import.md).
--
-- An opening XP balance: the old backend's total, carried as one ledger row per account. It belongs to the all-time
-- board only (xp_totals), never to a day, week or month: awarding it through the usual path would put every
-- imported account at the top of the import day's, week's and month's boards. The amount here is nominal: the
-- importer writes the ledger row itself with the old total as its amount, and nothing awards this action.
insert into xp_actions (action, amount, daily_cap, claimable, description) values
    ('opening_balance', 1, null, false, 'The XP total carried over from the previous backend (once per account)');

-- Staging for one import run: the export's rows are copied in (COPY), then moved into users, user_identities and
-- the XP ledger by a few set-based statements in the same transaction, and deleted before it commits. Empty
-- outside a running import.
create table supabase_import_accounts (
    run_id uuid not null,
    line integer not null,
    id uuid not null,
    email text not null,
    password_hash text,
    email_verified boolean not null,
    name text not null,
    avatar_url text,
    onboarding_completed boolean not null,
    default_serving_size integer,
    meal_prep_enabled boolean,
    default_meal_prep_count integer,
    kitchen_appliances text[] not null,
    dietary_preferences text[] not null,
    cuisine_preferences text[] not null,
    cooking_skill_level text,
    total_xp integer not null,
    created_at timestamptz not null,
    primary key (run_id, id)
);

create table supabase_import_identities (
    run_id uuid not null,
    line integer not null,
    -- The old account's id (not a reference: the account may not be imported).
    account_id uuid not null,
    provider text not null,
    subject text not null,
    email text,
    email_verified boolean not null,
    created_at timestamptz not null
);
create index supabase_import_identities_run_idx on supabase_import_identities (run_id);
