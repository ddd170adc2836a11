-- Paid subscriptions of the previous backend (`cookcam import supabase --subscriptions`, docs/runbooks/
-- supabase-import.md): the provider bindings the import attaches to accounts, waiting for their provider to say
-- what they are. The old backend's tier and status are not kept: nothing is granted from them. Reconciliation
-- (app/billing/reconcile.py) fetches every pending binding from its provider and records the answer through the
-- one entitlement path; a provider error leaves the binding pending (attempts, last_error) for the next run.
create table imported_billing_bindings (
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    -- Stripe subscription id, Apple original transaction id, Google purchase token.
    provider_subscription_id text not null check (length(provider_subscription_id) between 1 and 1000),
    user_id uuid not null references users (id) on delete cascade,
    -- Stripe: the customer the export names (also written to stripe_customers); checked against Stripe's answer.
    stripe_customer_id text check (length(stripe_customer_id) between 1 and 100),
    -- Apple: which App Store Server API environment to ask.
    environment text not null default 'production' check (environment in ('production', 'sandbox')),
    -- pending: not yet answered by the provider; resolved: answered, `outcome` says what became of it.
    outcome text check (outcome in ('recorded', 'unmapped', 'conflict')),
    attempts integer not null default 0 check (attempts >= 0),
    last_error text,
    resolved_at timestamptz,
    created_at timestamptz not null default now(),
    primary key (provider, provider_subscription_id),
    check ((outcome is null) = (resolved_at is null))
);
create index imported_billing_bindings_pending_idx on imported_billing_bindings (provider, provider_subscription_id)
    where resolved_at is null;
create index imported_billing_bindings_user_idx on imported_billing_bindings (user_id);
