-- Operators' billing tools (docs/payments.md "Operator commands").
--
-- Promotional entitlements (`cookcam billing grant` / `revoke`) are subscriptions of their own provider,
-- `promotional`, so every rule that reads subscriptions holds for them unchanged. A grant is recorded as a
-- subscription that does not renew: status `cancelled` with `cancel_at_period_end` and `current_period_end` = the
-- grant's end, which the state machine already reads as "grants its tier until current_period_end, compared with
-- now() at read time" (GetEntitledSubscription, GetTierLimits, users.creator_until), so it ends without a job. A
-- grant never counts as a paid referral (cookcam_counts_as_referral counts only active and grace_period) and has no
-- billing period, so it never earns a creator a revenue share. A revocation records `revoked` at once.
alter table subscriptions drop constraint subscriptions_provider_check;
alter table subscriptions add constraint subscriptions_provider_check
    check (provider in ('stripe', 'apple', 'google', 'promotional'));

-- Who granted or revoked a promotional entitlement, and why: one row per operator action. The subscription's
-- history row of that action names this row (`cause_kind` 'promotional', `cause_ref` its id); both are in the
-- account's data export.
create table promotional_actions (
    id uuid primary key,
    subscription_id uuid not null references subscriptions (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    action text not null check (action in ('grant', 'revoke')),
    tier_slug text not null references tiers (slug),
    -- The grant's end (for a revocation: the end it had).
    granted_until timestamptz not null,
    operator text not null check (length(operator) between 1 and 100),
    reason text not null check (length(reason) between 1 and 500),
    recorded_at timestamptz not null default now()
);
create index promotional_actions_user_idx on promotional_actions (user_id, recorded_at);
create index promotional_actions_subscription_idx on promotional_actions (subscription_id);

-- Restore and transfer of store purchases (docs/payments.md "Restore and transfer").
--
-- A deleted account's subscriptions go with it, but the store keeps the account token the app bound the purchase to
-- (Apple appAccountToken: the account's id; Google obfuscatedExternalAccountId: its sha256). The tombstone keeps
-- only that sha256, so a purchase naming a deleted account can be told from one naming a live account (or a
-- mistyped token) without keeping who the account was.
create table deleted_account_tokens (
    token_sha256 text primary key check (token_sha256 ~ '^[0-9a-f]{64}$'),
    deleted_at timestamptz not null default now()
);

-- Every time a purchase changed accounts, and why: `deleted_account` (restored by another account after the one it
-- was bound to was deleted; the subscription row had gone with it) or `transfer_policy` (BILLING_TRANSFER_POLICY=
-- transfer moved it from a live account). The request id of the restore that caused it.
create table subscription_transfers (
    id bigint generated always as identity primary key,
    subscription_id uuid not null references subscriptions (id) on delete cascade,
    from_user_id uuid references users (id) on delete set null,
    to_user_id uuid not null references users (id) on delete cascade,
    cause text not null check (cause in ('deleted_account', 'transfer_policy')),
    cause_ref text not null check (length(cause_ref) between 1 and 200),
    recorded_at timestamptz not null default now()
);
create index subscription_transfers_subscription_idx on subscription_transfers (subscription_id);
create index subscription_transfers_to_user_idx on subscription_transfers (to_user_id);
create index subscription_transfers_from_user_idx on subscription_transfers (from_user_id);

-- A subscription that moves to another account (only its user_id changes, in a statement of its own) leaves the
-- old account's derived creator state and referral count and joins the new one's, as a delete and an insert would.
create function cookcam_subscription_moved() returns trigger language plpgsql as $$
begin
    if old.tier_slug = 'creator' then
        perform cookcam_refresh_creator_until(old.user_id);
        perform cookcam_refresh_creator_until(new.user_id);
    end if;
    if cookcam_counts_as_referral(old.status, old.environment) then
        perform cookcam_lock_account(old.user_id);
        perform cookcam_count_referrals(old.user_id, -1);
        perform cookcam_lock_account(new.user_id);
        perform cookcam_count_referrals(new.user_id, 1);
    end if;
    return new;
end $$;

create trigger subscriptions_moved after update of user_id on subscriptions
    for each row when (old.user_id is distinct from new.user_id) execute function cookcam_subscription_moved();
