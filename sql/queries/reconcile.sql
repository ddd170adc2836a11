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
set outcome = @outcome, resolved_at = now(), attempts = attempts + 1, last_error = null, last_attempt_at = now()
where provider = @provider and provider_subscription_id = @provider_subscription_id and resolved_at is null;

-- name: RecordImportedBindingFailure :one
-- A failed attempt (@refused: the provider said the id does not exist); the binding is resolved as dead after
-- @max_refusals refusals, or once it is older than @max_age_days. Returns whether it is now dead.
with verdict as (
    select i.provider, i.provider_subscription_id,
           (i.refusals + @refused::integer >= @max_refusals::integer
            or i.created_at <= now() - make_interval(days => @max_age_days::integer)) as dead
    from imported_billing_bindings i
    where i.provider = @provider and i.provider_subscription_id = @provider_subscription_id
      and i.resolved_at is null
    for update
)
update imported_billing_bindings b
set attempts = b.attempts + 1, refusals = b.refusals + @refused::integer, last_error = @error,
    last_attempt_at = now(), outcome = case when v.dead then 'dead' end, resolved_at = case when v.dead then now() end
from verdict v
where b.provider = v.provider and b.provider_subscription_id = v.provider_subscription_id
returning v.dead;
