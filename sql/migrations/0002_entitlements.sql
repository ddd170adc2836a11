-- Entitlements: tiers, one row per provider subscription, the history of every status change, usage counters.
-- A user's entitlement is the best tier that any of their subscriptions grants right now (see docs/payments.md).

create table tiers (
    slug text primary key check (slug in ('free', 'regular', 'creator')),
    name text not null,
    -- Higher rank wins when several subscriptions grant access at once.
    rank integer not null unique,
    monthly_price_cents integer not null check (monthly_price_cents >= 0),
    yearly_price_cents integer not null check (yearly_price_cents >= 0),
    currency text not null default 'usd',
    -- Limits: null means unlimited (paid tiers are bounded by fair-use caps from settings instead).
    scans_per_day integer check (scans_per_day >= 0),
    recipes_per_month integer check (recipes_per_month >= 0),
    saved_recipes integer check (saved_recipes >= 0),
    revenue_share_percent integer not null default 0 check (revenue_share_percent between 0 and 100),
    features text[] not null default '{}'
);

insert into tiers (slug, name, rank, monthly_price_cents, yearly_price_cents, scans_per_day, recipes_per_month,
                   saved_recipes, revenue_share_percent, features)
values
    ('free', 'Free', 0, 0, 0, 5, 10, 50, 0,
     '{ingredient_scanning,recipe_generation,saved_recipes}'),
    ('regular', 'CookCam Pro', 1, 399, 3990, null, null, null, 0,
     '{ingredient_scanning,recipe_generation,saved_recipes,unlimited_scans,unlimited_recipes,priority_generation}'),
    ('creator', 'CookCam Creator', 2, 999, 9990, null, null, null, 30,
     '{ingredient_scanning,recipe_generation,saved_recipes,unlimited_scans,unlimited_recipes,priority_generation,'
     'creator_revenue_share,affiliate_links,creator_analytics}');

create table subscriptions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    -- Stripe subscription id, Apple original transaction id, Google purchase token's subscription id.
    provider_subscription_id text not null,
    tier_slug text not null references tiers (slug),
    status text not null check (status in ('trialing', 'active', 'grace_period', 'billing_retry', 'paused',
                                           'cancelled', 'expired', 'revoked')),
    environment text not null default 'production' check (environment in ('production', 'sandbox')),
    billing_period text check (billing_period in ('monthly', 'yearly')),
    trial_ends_at timestamptz,
    current_period_start timestamptz,
    current_period_end timestamptz,
    cancel_at_period_end boolean not null default false,
    -- The provider's own timestamp of the state we hold: older provider data never overwrites newer.
    provider_updated_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (provider, provider_subscription_id)
);
create index subscriptions_user_idx on subscriptions (user_id);

create table subscription_status_history (
    id bigint generated always as identity primary key,
    subscription_id uuid not null references subscriptions (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    from_status text,
    to_status text not null,
    from_tier text,
    to_tier text not null,
    -- What caused it: a provider event ('stripe_event', 'apple_notification', ...), a job, or an API call.
    cause_kind text not null check (length(cause_kind) between 1 and 40),
    cause_ref text not null check (length(cause_ref) between 1 and 200),
    recorded_at timestamptz not null default now()
);
create index subscription_status_history_subscription_idx on subscription_status_history (subscription_id, id);
create index subscription_status_history_user_idx on subscription_status_history (user_id);

-- Atomic usage counters for tier limits (scans per day, generations per month, ...).
create table usage_counters (
    user_id uuid not null references users (id) on delete cascade,
    metric text not null check (length(metric) between 1 and 40),
    period_start timestamptz not null,
    used integer not null check (used >= 0),
    primary key (user_id, metric, period_start)
);
