-- Reconciliation: every run of `cookcam jobs run reconcile` (and the in-process scheduler) writes one row; the views
-- turn the latest runs into health figures and alerts.

create table reconciliation_runs (
    id uuid primary key default gen_random_uuid(),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    -- Subscriptions compared with their provider, those whose state had drifted (fixed, with cause 'reconcile'),
    -- those whose provider could not be asked (errors), and those skipped (provider not configured here).
    checked integer not null default 0 check (checked >= 0),
    drifted integer not null default 0 check (drifted >= 0),
    errors integer not null default 0 check (errors >= 0),
    skipped integer not null default 0 check (skipped >= 0),
    events_recovered integer not null default 0 check (events_recovered >= 0),
    duration_ms integer check (duration_ms >= 0)
);
create index reconciliation_runs_started_idx on reconciliation_runs (started_at desc);

-- The latest finished run with its rates; thresholds: error rate > 10 %, drift > 5 %, a run longer than 5 minutes.
create view billing_reconciliation_health as
select
    r.id, r.started_at, r.finished_at, r.checked, r.drifted, r.errors, r.skipped, r.events_recovered, r.duration_ms,
    case when r.checked > 0 then r.errors::numeric / r.checked else 0 end as error_rate,
    case when r.checked > 0 then r.drifted::numeric / r.checked else 0 end as drift_rate
from reconciliation_runs r
where r.finished_at is not null
order by r.started_at desc
limit 1;

create view billing_reconciliation_alerts as
select 'error_rate_above_10_percent' as alert, h.started_at, h.error_rate as value
from billing_reconciliation_health h where h.error_rate > 0.10
union all
select 'drift_above_5_percent', h.started_at, h.drift_rate from billing_reconciliation_health h where h.drift_rate > 0.05
union all
select 'run_longer_than_5_minutes', h.started_at, h.duration_ms / 1000.0
from billing_reconciliation_health h where h.duration_ms > 300000
union all
-- A run that started over an hour ago and never finished (crashed or stuck).
select 'run_unfinished', r.started_at, extract(epoch from now() - r.started_at)::numeric
from reconciliation_runs r where r.finished_at is null and r.started_at < now() - interval '1 hour';
