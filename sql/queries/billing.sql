-- name: ListTiers :many
select slug, name, rank, monthly_price_cents, yearly_price_cents, currency, scans_per_day, recipes_per_month,
       saved_recipes, revenue_share_percent, features
from tiers
order by rank;

-- name: GetEntitledSubscription :one
-- The subscription granting the best tier right now (the rule: cookcam_entitled_subscription, migration 0054).
select s.id, s.tier_slug, s.provider, s.status, s.current_period_end
from subscriptions s
where s.id = cookcam_entitled_subscription(@user_id);

-- name: GetTierLimits :one
-- The usage limits of the best tier the user is entitled to right now (free when none), in one read for the
-- per-request limit checks (the rule: cookcam_entitled_subscription, migration 0054, through cookcam_entitled_tier).
-- As a subquery the tier is worked out once, not once for each tier the scan compares (migration 0058).
select t.scans_per_day, t.recipes_per_month, t.saved_recipes
from tiers t
where t.slug = (select cookcam_entitled_tier(@user_id));

-- name: ListUserSubscriptions :many
select id, provider, tier_slug, status, environment, billing_period, trial_ends_at, current_period_start,
       current_period_end, cancel_at_period_end, created_at, updated_at
from subscriptions
where user_id = @user_id
order by created_at desc
limit 100;

-- name: RecordSubscriptionState :one
-- Create or update a subscription from verified provider data with its history row, under the ordering rule, in one
-- statement, with the hooks' triggers (revenue share) and the user's notice: the outcome and the entitled tier before
-- and after (cookcam_record_subscription_state, migrations 0054, 0057 and 0058).
select outcome, before_tier, after_tier
from cookcam_record_subscription_state(
    @user_id, @provider, @provider_subscription_id, @tier_slug, @status, @environment, sqlc.narg(billing_period),
    sqlc.narg(trial_ends_at), sqlc.narg(current_period_start), sqlc.narg(current_period_end), @cancel_at_period_end,
    @provider_updated_at, sqlc.narg(grace_until), @cause_kind, @cause_ref, @hook_context::jsonb);

-- name: StoreSubscriptionEvent :one
-- A provider event whose whole effect is one subscription state, in one statement: stored as processed with the
-- state recorded (its outcome), or 'duplicate' (processed before) or 'taken' (held elsewhere or processed
-- meanwhile), which write nothing (cookcam_store_subscription_event, migration 0057).
select outcome
from cookcam_store_subscription_event(
    @event_provider, @event_id, @event_type, @payload::text,
    @user_id, @provider, @provider_subscription_id, @tier_slug, @status, @environment, sqlc.narg(billing_period),
    sqlc.narg(trial_ends_at), sqlc.narg(current_period_start), sqlc.narg(current_period_end), @cancel_at_period_end,
    @provider_updated_at, sqlc.narg(grace_until), @cause_kind, @hook_context::jsonb);

-- name: TouchUnchangedSubscription :one
-- The recording of a state equal to the stored one in every stored field, for the same account, of a
-- subscription that has not ended and not newer than the state: what the full recording does then in one
-- statement (only the provider's time moves forward). No row: the full recording decides.
update subscriptions set provider_updated_at = @provider_updated_at, updated_at = now()
where provider = @provider and provider_subscription_id = @provider_subscription_id and user_id = @user_id
  and status not in ('expired', 'revoked') and provider_updated_at <= @provider_updated_at
  and tier_slug = @tier_slug and status = @status and environment = @environment
  and billing_period is not distinct from sqlc.narg(billing_period)
  and trial_ends_at is not distinct from sqlc.narg(trial_ends_at)
  and current_period_start is not distinct from sqlc.narg(current_period_start)
  and current_period_end is not distinct from sqlc.narg(current_period_end)
  and cancel_at_period_end = @cancel_at_period_end
  and grace_until is not distinct from sqlc.narg(grace_until)
returning id;

-- name: ListStatusHistory :many
select h.subscription_id, h.from_status, h.to_status, h.from_tier, h.to_tier, h.cause_kind, h.recorded_at
from subscription_status_history h
where h.user_id = @user_id
order by h.id
limit 1000;

-- name: ConsumeUsage :one
-- One more use in the period, only while under the limit; null when the limit is reached (the rule:
-- cookcam_consume_usage, migration 0055, atomic under concurrency).
select cookcam_consume_usage(@user_id, @metric, @period_start, @usage_limit::integer) as used;

-- name: GetUsage :one
select used from usage_counters where user_id = @user_id and metric = @metric and period_start = @period_start;

-- name: GetStripeCustomer :one
select customer_id from stripe_customers where user_id = @user_id;

-- name: InsertStripeCustomer :one
-- The first writer wins; a concurrent checkout then reads the stored id (the Stripe call was idempotent).
insert into stripe_customers (user_id, customer_id) values (@user_id, @customer_id)
on conflict (user_id) do nothing
returning customer_id;

-- name: ListLiveSubscriptions :many
-- Subscriptions a provider may still charge for (everything not yet ended; a promotional grant charges nothing).
select provider, provider_subscription_id, environment
from subscriptions
where user_id = @user_id and status not in ('expired', 'revoked') and provider <> 'promotional'
order by created_at
limit 100;

-- name: GetUserByStripeCustomer :one
select user_id from stripe_customers where customer_id = @customer_id;

-- name: ListLiveProviderSubscriptions :many
-- One provider's subscriptions of a user that are not yet ended (refunds and disputes revoke them).
select provider_subscription_id
from subscriptions
where user_id = @user_id and provider = @provider and status not in ('expired', 'revoked')
order by created_at
limit 100;

-- name: GetProviderSubscription :one
-- A provider's subscription by its id with that provider (store notifications name only that id).
select user_id, tier_slug, status, billing_period, current_period_start, current_period_end
from subscriptions
where provider = @provider and provider_subscription_id = @provider_subscription_id;

-- name: ReleaseUsage :exec
-- Gives back one use counted for work that then failed (the provider was down), never below zero.
update usage_counters set used = used - 1
where user_id = @user_id and metric = @metric and period_start = @period_start and used > 0;

-- name: ExportImportedBillingBindings :many
-- Subscriptions of the previous backend attached to the account and what became of them (null outcome: pending);
-- never the provider's id (a Google purchase token is a purchase proof).
select provider, environment, outcome, created_at as imported_at, resolved_at
from imported_billing_bindings where user_id = @user_id order by created_at;

-- name: HadTrialOrPaidSubscription :one
-- One free trial per person: whether the account ever had a trial or a paid subscription on any provider: a
-- subscription with a trial end, any App Store or Google Play purchase (a store transaction, even one first seen
-- expired), a Stripe subscription whose history ever granted access (one whose first payment never succeeded does
-- not count), or a subscription imported from the previous backend. An operator's promotional grant is neither.
select exists (select 1 from subscriptions s
               where s.user_id = @user_id and (s.trial_ends_at is not null or s.provider in ('apple', 'google')))
    or exists (select 1 from subscription_status_history h join subscriptions s on s.id = h.subscription_id
               where h.user_id = @user_id and s.provider <> 'promotional'
                 and h.to_status in ('trialing', 'active', 'grace_period', 'cancelled', 'revoked'))
    or exists (select 1 from imported_billing_bindings b where b.user_id = @user_id) as had;
