-- name: StartReconciliationRun :one
insert into reconciliation_runs default values returning id;

-- name: FinishReconciliationRun :exec
update reconciliation_runs
set finished_at = now(), checked = @checked, drifted = @drifted, errors = @errors, skipped = @skipped,
    events_recovered = @events_recovered,
    duration_ms = (extract(epoch from now() - started_at) * 1000)::integer
where id = @id;

-- name: ListSubscriptionsToReconcile :many
-- One provider's subscriptions it may still change (not expired or revoked), a page at a time in id order, with
-- what we hold of them (to name the cause of a drift).
select id, user_id, provider, provider_subscription_id, environment, status, tier_slug, current_period_end,
       cancel_at_period_end
from subscriptions
where provider = @provider and status not in ('expired', 'revoked') and id > @after
order by id
limit @page_size;

-- name: CountSubscriptionsToReconcile :one
select count(*)::integer from subscriptions where provider = @provider and status not in ('expired', 'revoked');

-- name: GetReconciliationPosition :one
select after_id, pass_started_at from reconciliation_positions where provider = @provider;

-- name: SaveReconciliationPosition :exec
insert into reconciliation_positions (provider, after_id, pass_started_at)
values (@provider, @after_id, @pass_started_at)
on conflict (provider) do update set after_id = excluded.after_id, updated_at = now();

-- name: ClearReconciliationPosition :exec
-- The pass reached the end: the next run starts a new one.
delete from reconciliation_positions where provider = @provider;

-- name: RecordReconciliationProviderResult :exec
-- One run's figures for one provider: its own row, added to the provider's totals in the same statement.
with result as (
    insert into reconciliation_provider_results (
        run_id, provider, checked, drifted_status, drifted_tier, drifted_period_end, drifted_renewal,
        drifted_other, errors, retries, skipped, pass_completed_at
    ) values (
        @run_id, @provider, @checked, @drifted_status, @drifted_tier, @drifted_period_end, @drifted_renewal,
        @drifted_other, @errors, @retries, @skipped, sqlc.narg(pass_completed_at)
    )
    returning *
)
insert into reconciliation_provider_totals as t (
    provider, checked, drifted_status, drifted_tier, drifted_period_end, drifted_renewal, drifted_other, errors,
    retries, skipped, last_run_at, last_pass_completed_at
)
select provider, checked, drifted_status, drifted_tier, drifted_period_end, drifted_renewal, drifted_other, errors,
       retries, skipped, recorded_at, pass_completed_at
from result
on conflict (provider) do update set
    checked = t.checked + excluded.checked,
    drifted_status = t.drifted_status + excluded.drifted_status,
    drifted_tier = t.drifted_tier + excluded.drifted_tier,
    drifted_period_end = t.drifted_period_end + excluded.drifted_period_end,
    drifted_renewal = t.drifted_renewal + excluded.drifted_renewal,
    drifted_other = t.drifted_other + excluded.drifted_other,
    errors = t.errors + excluded.errors,
    retries = t.retries + excluded.retries,
    skipped = t.skipped + excluded.skipped,
    last_run_at = greatest(t.last_run_at, excluded.last_run_at),
    last_pass_completed_at = greatest(t.last_pass_completed_at, excluded.last_pass_completed_at);

-- name: ListReconciliationMetrics :many
-- Per provider, for /metrics: the totals of every run so far (counters) and the end of its last complete pass
-- (epoch: never). One row per provider, however many runs there were.
select p.provider::text as provider,
       coalesce(t.checked, 0)::bigint as checked,
       coalesce(t.drifted_status, 0)::bigint as drifted_status,
       coalesce(t.drifted_tier, 0)::bigint as drifted_tier,
       coalesce(t.drifted_period_end, 0)::bigint as drifted_period_end,
       coalesce(t.drifted_renewal, 0)::bigint as drifted_renewal,
       coalesce(t.drifted_other, 0)::bigint as drifted_other,
       coalesce(t.errors, 0)::bigint as errors,
       coalesce(t.retries, 0)::bigint as retries,
       coalesce(t.skipped, 0)::bigint as skipped,
       coalesce(t.last_pass_completed_at, 'epoch'::timestamptz)::timestamptz as last_pass_completed_at,
       coalesce(t.last_run_at, 'epoch'::timestamptz)::timestamptz as last_run_at
from (values ('stripe'), ('apple'), ('google')) as p (provider)
left join reconciliation_provider_totals t on t.provider = p.provider
order by p.provider;

-- name: PurgeReconciliationProviderResults :execrows
-- Per-run rows past their retention (the totals keep their figures).
delete from reconciliation_provider_results where recorded_at < @before;

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
