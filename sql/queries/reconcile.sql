-- name: StartReconciliationRun :one
insert into reconciliation_runs default values returning id;

-- name: FinishReconciliationRun :exec
update reconciliation_runs
set finished_at = now(), checked = @checked, drifted = @drifted, errors = @errors, skipped = @skipped,
    events_recovered = @events_recovered,
    duration_ms = (extract(epoch from now() - started_at) * 1000)::integer
where id = @id;

-- name: ListSubscriptionsToReconcile :many
-- Every subscription a provider may still change (not expired or revoked; a promotional grant has no provider to
-- ask), a page at a time in id order.
select id, user_id, provider, provider_subscription_id, environment
from subscriptions
where status not in ('expired', 'revoked') and provider <> 'promotional' and id > @after
order by id
limit @page_size;

-- name: GetReconciliationHealth :one
select checked, drifted, errors, error_rate::double precision as error_rate,
       drift_rate::double precision as drift_rate, duration_ms, finished_at
from billing_reconciliation_health;

-- name: ListReconciliationAlerts :many
select alert::text as alert, started_at::timestamptz as started_at, value::double precision as value
from billing_reconciliation_alerts;

-- name: ListPendingImportedBindings :many
-- Imported provider bindings the provider has not answered for yet, a page at a time in key order.
select provider, provider_subscription_id, user_id, stripe_customer_id, environment
from imported_billing_bindings
where resolved_at is null and (provider, provider_subscription_id) > (@after_provider::text, @after_id::text)
order by provider, provider_subscription_id
limit @page_size;

-- name: ResolveImportedBinding :exec
update imported_billing_bindings
set outcome = @outcome, resolved_at = now(), attempts = attempts + 1, last_error = null
where provider = @provider and provider_subscription_id = @provider_subscription_id and resolved_at is null;

-- name: RecordImportedBindingFailure :exec
update imported_billing_bindings
set attempts = attempts + 1, last_error = @error
where provider = @provider and provider_subscription_id = @provider_subscription_id and resolved_at is null;
