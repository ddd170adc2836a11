-- Operators' billing tools: `cookcam billing customer`, `grant`, `revoke` (docs/payments.md "Operator commands").

-- name: FindBillingAccount :one
-- The account an operator names: its id, its email (any case), or one of its provider ids (a Stripe customer or
-- subscription id, an Apple original transaction id, a Google purchase token). `account_id` is the needle when
-- it reads as a UUID.
select u.id, u.email, u.name, u.created_at
from users u
where u.id = (
    select coalesce(
        (select by_id.id from users by_id where by_id.id = sqlc.narg(account_id)::uuid),
        (select by_email.id from users by_email where lower(by_email.email) = lower(@needle)),
        (select c.user_id from stripe_customers c where c.customer_id = @needle),
        -- Every provider listed, so the (provider, provider_subscription_id) key's index answers.
        (select s.user_id from subscriptions s
         where s.provider in ('stripe', 'apple', 'google', 'promotional') and s.provider_subscription_id = @needle
         order by s.created_at desc
         limit 1)
    )
);

-- name: BillingCustomerStripeId :one
select customer_id from stripe_customers where user_id = @user_id;

-- name: ListBillingSubscriptions :many
-- Every subscription of the account with its provider ids, newest first.
select id, provider, provider_subscription_id, tier_slug, status, environment, billing_period, trial_ends_at,
       current_period_start, current_period_end, cancel_at_period_end, provider_updated_at, created_at, updated_at
from subscriptions
where user_id = @user_id
order by created_at desc, id
limit 1000;

-- name: ListBillingHistory :many
-- Every status or tier change of the account's subscriptions, with its cause.
select subscription_id, from_status, to_status, from_tier, to_tier, cause_kind, cause_ref, recorded_at
from subscription_status_history
where user_id = @user_id
order by id
limit 5000;

-- name: ListBillingEvents :many
-- Recent provider events about the account: those its history names (a webhook or notification that changed a
-- subscription), and the Stripe events whose object names its Stripe customer or one of its Stripe subscriptions.
-- App Store and Google Play payloads are signed or encoded, so only the ones that changed something are found.
select e.provider, e.event_id, e.event_type, e.status, e.attempts, e.error, e.received_at, e.processed_at
from provider_events e
where (e.provider, e.event_id) in (
          select case h.cause_kind when 'stripe_event' then 'stripe' when 'apple_notification' then 'apple'
                                   else 'google' end,
                 h.cause_ref
          from subscription_status_history h
          where h.user_id = @user_id
            and h.cause_kind in ('stripe_event', 'apple_notification', 'google_notification'))
   or (e.provider = 'stripe'
       and (e.payload -> 'data' -> 'object' ->> 'customer' = sqlc.narg(stripe_customer_id)
            or e.payload -> 'data' -> 'object' ->> 'subscription' = any(@stripe_subscription_ids::text[])
            or e.payload -> 'data' -> 'object' ->> 'id' = any(@stripe_subscription_ids::text[])))
order by e.received_at desc
limit @max_rows;

-- name: ListBillingEarnings :many
-- Revenue-share rows the account earned as a creator, and those its own subscriptions earned its referrer.
select e.creator_id, e.referred_user_id, e.provider, e.subscription_id, e.period_start, e.kind, e.amount_cents,
       e.currency, e.created_at
from creator_earnings e
where e.creator_id = @user_id or e.referred_user_id = @user_id
order by e.created_at desc, e.id
limit @max_rows;

-- name: ListBillingPayouts :many
select id, amount_cents, currency, status, stripe_transfer_id, reversed_cents, failure_code, created_at, settled_at
from creator_payouts
where creator_id = @user_id
order by created_at desc, id
limit @max_rows;

-- name: LockLivePromotionalSubscriptions :many
-- The account's promotional grants that still grant their tier, locked against a concurrent grant or revocation.
select s.id, s.provider_subscription_id, s.tier_slug, s.current_period_start, s.current_period_end
from subscriptions s
where s.user_id = @user_id
  and s.provider = 'promotional'
  and s.status = 'cancelled'
  and s.current_period_end > now()
order by s.created_at
for update;

-- name: InsertPromotionalAction :exec
insert into promotional_actions (id, subscription_id, user_id, action, tier_slug, granted_until, operator, reason)
select @id, s.id, s.user_id, @action, @tier_slug, @granted_until, @operator, @reason
from subscriptions s
where s.provider = 'promotional' and s.provider_subscription_id = @provider_subscription_id;

-- name: ListPromotionalActions :many
-- Who granted or revoked the account's promotional entitlements, and why (the operator tools and the export).
select a.id, a.subscription_id, a.action, a.tier_slug, a.granted_until, a.operator, a.reason, a.recorded_at
from promotional_actions a
where a.user_id = @user_id
order by a.recorded_at, a.id
limit 1000;

-- name: LockBillingAccount :one
-- The account's row, locked: two operators' grants or revocations for one account run one after the other.
select id from users where id = @user_id for no key update;

-- name: RecordDeletedAccountToken :exec
-- The tombstone of a deleted account: the sha256 of its id, the form a store keeps it in (or can be brought to).
insert into deleted_account_tokens (token_sha256) values (@token_sha256) on conflict do nothing;

-- name: IsDeletedAccountToken :one
select exists (select 1 from deleted_account_tokens where token_sha256 = @token_sha256) as deleted;

-- name: MoveSubscription :execrows
-- A purchase changes accounts (a statement of its own, so the move trigger alone adjusts the derived creator state).
update subscriptions set user_id = @to_user_id, updated_at = now()
where provider = @provider and provider_subscription_id = @provider_subscription_id;

-- name: RecordSubscriptionTransfer :exec
insert into subscription_transfers (subscription_id, from_user_id, to_user_id, cause, cause_ref)
select s.id, sqlc.narg(from_user_id), s.user_id, @cause, @cause_ref
from subscriptions s
where s.provider = @provider and s.provider_subscription_id = @provider_subscription_id;

-- name: ListSubscriptionTransfers :many
-- Transfers into or out of the account (the operator view and the export).
select t.subscription_id, t.from_user_id, t.to_user_id, t.cause, t.cause_ref, t.recorded_at
from subscription_transfers t
where t.to_user_id = @user_id or t.from_user_id = @user_id
order by t.id
limit 1000;
