-- Reconciliation's counters for /metrics (app/ops/reconciliation.py) without summing every run's rows on each
-- scrape: one row per provider holding the totals of every run so far, which each run adds its figures to in the
-- same statement that writes its `reconciliation_provider_results` row. The totals only grow (Prometheus counters);
-- the per-run rows are deleted after RECONCILE_RESULTS_RETENTION_DAYS by `cookcam jobs run purge-expired`,
-- which leaves the totals as they are.
create table reconciliation_provider_totals (
    provider text primary key check (provider in ('stripe', 'apple', 'google')),
    checked bigint not null default 0 check (checked >= 0),
    drifted_status bigint not null default 0 check (drifted_status >= 0),
    drifted_tier bigint not null default 0 check (drifted_tier >= 0),
    drifted_period_end bigint not null default 0 check (drifted_period_end >= 0),
    drifted_renewal bigint not null default 0 check (drifted_renewal >= 0),
    drifted_other bigint not null default 0 check (drifted_other >= 0),
    errors bigint not null default 0 check (errors >= 0),
    retries bigint not null default 0 check (retries >= 0),
    skipped bigint not null default 0 check (skipped >= 0),
    -- When the last run that walked the provider recorded its figures, and the end of its last complete pass.
    last_run_at timestamptz not null,
    last_pass_completed_at timestamptz
);

-- The runs recorded before this migration: the counters go on from their sums, never back.
insert into reconciliation_provider_totals (
    provider, checked, drifted_status, drifted_tier, drifted_period_end, drifted_renewal, drifted_other, errors,
    retries, skipped, last_run_at, last_pass_completed_at
)
select provider, sum(checked), sum(drifted_status), sum(drifted_tier), sum(drifted_period_end),
       sum(drifted_renewal), sum(drifted_other), sum(errors), sum(retries), sum(skipped), max(recorded_at),
       max(pass_completed_at)
from reconciliation_provider_results
group by provider;
