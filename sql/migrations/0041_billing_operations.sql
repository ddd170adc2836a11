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
