-- Reconciliation that finishes (app/billing/reconcile.py, docs/payments.md "Reconciliation"): each provider's pass
-- over its subscriptions keeps its keyset position between runs, so a run stopped by its time box
-- (RECONCILE_MAX_RUN_SECONDS) or killed continues where it stopped; and each run writes one row per provider with
-- what it saw, which the server exports at /metrics when Prometheus scrapes it (the job runs in its own process).

-- Where each provider's current pass stands: every live subscription of that provider with an id up to `after_id`
-- has been checked in this pass. No row: the next run starts a new pass from the beginning.
create table reconciliation_positions (
    provider text primary key check (provider in ('stripe', 'apple', 'google')),
    after_id uuid not null,
    pass_started_at timestamptz not null,
    updated_at timestamptz not null default now()
);

-- One row per run and provider. `checked` subscriptions answered by their provider, `drifted` of them differed
-- from what we held (by cause: the first of status, tier, period_end, renewal that differed; `other` for the
-- rest), `errors` could not be asked after the retries, `retries` provider answers 429/503 that were waited out
-- and asked again. `pass_completed_at`: this run reached the end of the provider's pass.
create table reconciliation_provider_results (
    run_id uuid not null references reconciliation_runs (id) on delete cascade,
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    checked integer not null default 0 check (checked >= 0),
    drifted_status integer not null default 0 check (drifted_status >= 0),
    drifted_tier integer not null default 0 check (drifted_tier >= 0),
    drifted_period_end integer not null default 0 check (drifted_period_end >= 0),
    drifted_renewal integer not null default 0 check (drifted_renewal >= 0),
    drifted_other integer not null default 0 check (drifted_other >= 0),
    errors integer not null default 0 check (errors >= 0),
    retries integer not null default 0 check (retries >= 0),
    skipped integer not null default 0 check (skipped >= 0),
    pass_completed_at timestamptz,
    recorded_at timestamptz not null default now(),
    primary key (run_id, provider)
);
create index reconciliation_provider_results_recorded_idx on reconciliation_provider_results (recorded_at desc);
-- The provider's own successful pass (for the staleness alert) is found by this partial index.
create index reconciliation_provider_results_completed_idx
    on reconciliation_provider_results (provider, pass_completed_at desc) where pass_completed_at is not null;

-- The listing walks one provider's live subscriptions in id order.
create index subscriptions_reconcile_idx on subscriptions (provider, id) where status not in ('expired', 'revoked');
