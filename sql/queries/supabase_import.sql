-- name: LockSupabaseImport :exec
-- One import at a time: a second run waits for the first one's transaction to end.
select pg_advisory_xact_lock(hashtext('cookcam:supabase-import'));

-- name: FindDeletedAccounts :many
-- Which of these ids name an account deleted here (migration 0045's tombstone: the sha256 of the id's text).
select given.id::uuid as id
from unnest(@ids::uuid[]) as given (id)
where exists (
    select 1 from deleted_accounts d where d.id_sha256 = encode(sha256(convert_to(given.id::text, 'UTF8')), 'hex')
);

-- name: StageSupabaseAccounts :copyfrom
insert into supabase_import_accounts (
    run_id, line, id, email, password_hash, email_verified, name, avatar_url, onboarding_completed,
    default_serving_size, meal_prep_enabled, default_meal_prep_count, kitchen_appliances, dietary_preferences,
    cuisine_preferences, cooking_skill_level, total_xp, created_at
) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18);

-- name: StageSupabaseIdentities :copyfrom
insert into supabase_import_identities (run_id, line, account_id, provider, subject, email, email_verified, created_at)
values ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: FindExistingImportedAccounts :many
-- The staged accounts whose id or (lower-cased) email an account here already holds, and what it holds.
select s.id, s.line, by_id.email as id_email, by_email.id as email_owner
from supabase_import_accounts s
left join users by_id on by_id.id = s.id
left join users by_email on lower(by_email.email) = s.email
where s.run_id = @run_id and (by_id.id is not null or by_email.id is not null);

-- name: InsertStagedAccounts :many
-- Every staged account that neither its id nor its email is taken by: the rest are reported, never overwritten.
insert into users (
    id, email, password_hash, email_verified, name, avatar_url, onboarding_completed, default_serving_size,
    meal_prep_enabled, default_meal_prep_count, kitchen_appliances, dietary_preferences, cuisine_preferences,
    cooking_skill_level, created_at, updated_at
)
select s.id, s.email, s.password_hash, s.email_verified, s.name, s.avatar_url, s.onboarding_completed,
       s.default_serving_size, s.meal_prep_enabled, s.default_meal_prep_count, s.kitchen_appliances,
       s.dietary_preferences, s.cuisine_preferences, s.cooking_skill_level, s.created_at, now()
from supabase_import_accounts s
where s.run_id = @run_id
on conflict do nothing
returning id;

-- name: FindExistingImportedIdentities :many
-- The staged identities already bound here, and to which account.
select s.line, s.provider, s.subject, s.account_id, ui.user_id as bound_to
from supabase_import_identities s
join user_identities ui on ui.provider = s.provider and ui.subject = s.subject
where s.run_id = @run_id;

-- name: InsertStagedIdentities :many
-- The identities of staged accounts that are here with the export's email (imported now or by an earlier run).
insert into user_identities (user_id, provider, subject, email, email_verified, created_at)
select i.account_id, i.provider, i.subject, i.email, i.email_verified, i.created_at
from supabase_import_identities i
join supabase_import_accounts a on a.run_id = i.run_id and a.id = i.account_id
join users u on u.id = a.id and lower(u.email) = a.email
where i.run_id = @run_id
on conflict (provider, subject) do nothing
returning provider, subject;

-- name: OpenStagedXpBalances :many
-- One `opening_balance` ledger row per account (once: the ledger's key), added to the all-time total only.
with opened as (
    insert into xp_ledger (user_id, action, amount, dedup_key)
    select a.id, 'opening_balance', a.total_xp, 'supabase'
    from supabase_import_accounts a
    join users u on u.id = a.id and lower(u.email) = a.email
    where a.run_id = @run_id and a.total_xp > 0
    on conflict (user_id, action, dedup_key) do nothing
    returning user_id, amount
)
insert into xp_totals (user_id, total_xp)
select user_id, amount from opened
on conflict (user_id) do update set total_xp = xp_totals.total_xp + excluded.total_xp, updated_at = now()
returning user_id;

-- name: DropStagedAccounts :exec
delete from supabase_import_accounts where run_id = @run_id;

-- name: DropStagedIdentities :exec
delete from supabase_import_identities where run_id = @run_id;

-- name: ImportRefreshTokens :many
-- The hashes of the previous backend's live refresh tokens, each once; returns the ones added by this call.
insert into imported_refresh_tokens (token_hash, user_id)
select unnest(@token_hashes::bytea[]), unnest(@user_ids::uuid[])
on conflict (token_hash) do nothing
returning token_hash;

-- name: FindImportedBindingOwners :many
-- Who holds each of these provider subscriptions here already: a pending or resolved imported binding, or a
-- subscription the app recorded. (Pairs given as two arrays advancing together.)
select w.provider::text as provider, w.provider_subscription_id::text as provider_subscription_id,
       coalesce(b.user_id, s.user_id)::uuid as held_by
from (
    select unnest(@providers::text[]) as provider, unnest(@subscription_ids::text[]) as provider_subscription_id
) w
left join imported_billing_bindings b
    on b.provider = w.provider and b.provider_subscription_id = w.provider_subscription_id
left join subscriptions s on s.provider = w.provider and s.provider_subscription_id = w.provider_subscription_id
where b.user_id is not null or s.user_id is not null;

-- name: FindStripeCustomerOwners :many
-- The accounts here holding these Stripe customers, or holding another customer when they are among these users.
select user_id, customer_id
from stripe_customers
where customer_id = any(@customer_ids::text[]) or user_id = any(@user_ids::uuid[]);

-- name: ImportStripeCustomers :many
-- Stripe customers of imported accounts, each bound once (one customer per account, one account per customer).
insert into stripe_customers (user_id, customer_id)
select unnest(@user_ids::uuid[]), unnest(@customer_ids::text[])
on conflict do nothing
returning user_id;

-- name: ImportBillingBindings :many
-- Imported provider bindings, pending until reconciliation asks the provider; returns the ones added now.
insert into imported_billing_bindings (provider, provider_subscription_id, user_id, stripe_customer_id, environment)
select unnest(@providers::text[]), unnest(@subscription_ids::text[]), unnest(@user_ids::uuid[]),
       nullif(unnest(@stripe_customer_ids::text[]), ''), unnest(@environments::text[])
on conflict do nothing
returning provider, provider_subscription_id;

-- name: PurgeImportedRefreshTokens :one
-- Closing the move's window (`cookcam import supabase --close-window`): every imported refresh token, exchanged or
-- not, has no use left once JWT_IMPORTED_REFRESH_WINDOW_DAYS is 0.
with purged as (
    delete from imported_refresh_tokens returning exchanged_at
)
select count(*) filter (where exchanged_at is not null) as exchanged, count(*) as purged from purged;

-- name: PurgeSupabaseSessions :execrows
-- The links between Supabase sessions and ours, with no use left once Supabase access tokens are refused. Our
-- sessions opened for them stay in the account's history: they never held a refresh token of ours, so nothing can
-- use them once Supabase's tokens are refused.
delete from supabase_sessions;
