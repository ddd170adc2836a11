-- name: StartReconciliationRun :one
insert into reconciliation_runs default values returning id;

-- name: FinishReconciliationRun :exec
update reconciliation_runs
set finished_at = now(), checked = @checked, drifted = @drifted, errors = @errors, skipped = @skipped,
    events_recovered = @events_recovered,
    duration_ms = (extract(epoch from now() - started_at) * 1000)::integer
where id = @id;

-- name: ListSubscriptionsToReconcile :many
-- Every subscription a provider may still change (not expired or revoked), a page at a time in id order.
select id, user_id, provider, provider_subscription_id, environment
from subscriptions
where status not in ('expired', 'revoked') and id > @after
order by id
limit @page_size;

-- name: GetReconciliationHealth :one
select checked, drifted, errors, error_rate::double precision as error_rate,
       drift_rate::double precision as drift_rate, duration_ms, finished_at
from billing_reconciliation_health;

-- name: ListReconciliationAlerts :many
select alert::text as alert, started_at::timestamptz as started_at, value::double precision as value
from billing_reconciliation_alerts;
