-- Less work for PostgreSQL per statement on the hot paths, found in a profile of its backends under the Stripe
-- webhook's load (docs/benchmarks.md, "PostgreSQL's side of a webhook"). No rule changes.

-- 1. A SQL function is inlined into its caller's plan only when its declared volatility is no stricter than its
-- body's. These two call stable functions (jsonb_build_object, to_char), so as `immutable` they were executed
-- apart, with their bodies parsed and planned again on every call: about 5 % of PostgreSQL's CPU per webhook in
-- a profile.
alter function cookcam_user_event(uuid, text, jsonb) stable;
alter function cookcam_period_key(text, text, text, timestamptz) stable;

-- 2. The entitled tier once per offer: compared with tiers.slug in the scan of tiers, the function ran twice per
-- statement (counted in pg_stat_user_functions); as an uncorrelated subquery, an init plan, it runs once. Billing's
-- GetTierLimits (sql/queries/billing.sql) reads it the same way now.
create or replace function cookcam_offer_cached_generation(
    account uuid, generation_key text, fair_use integer, usage_metric text, usage_period_start timestamptz,
    session_request jsonb, out monthly_limit integer, out value jsonb, out session_id uuid
) language plpgsql as $$
begin
    select coalesce(t.recipes_per_month, fair_use) into monthly_limit
    from tiers t where t.slug = (select cookcam_entitled_tier(account));
    select g.value into value
    from generation_cache g where g.cache_key = generation_key and g.status = 'ready' and g.expires_at > now();
    -- Nested rather than one condition: SQL does not promise to evaluate an OR from left to right, and the count
    -- must not move on a miss.
    if value is null or monthly_limit <= 0 then
        return;
    end if;
    if cookcam_consume_usage(account, usage_metric, usage_period_start, monthly_limit) is null then
        return;
    end if;
    insert into recipe_sessions (user_id, request, previews, source)
    values (account, session_request, value, 'ai')
    returning id into session_id;
end $$;

-- 3. As in 0057, but the stored subscription is read (locked) first and the insert tried only when there is none:
-- most recordings update, and the insert that found its conflict cost a statement, its constraint checks and the
-- account's existence check every time.
create or replace function cookcam_record_subscription_state(
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, cause_ref text, hook_context jsonb,
    out outcome text, out before_tier text, out after_tier text
) language plpgsql as $$
declare
    stored subscriptions%rowtype;
    created_id uuid;
begin
    perform set_config('cookcam.recording_context', coalesce(hook_context, '{}')::text, true);
    before_tier := cookcam_entitled_tier(account);
    -- Most recordings find their subscription stored: read it (locked) first, insert only when there is none.
    select * into stored from subscriptions
    where provider = state_provider and provider_subscription_id = state_subscription_id
    for update;
    if stored.id is null then
        insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status, environment,
                                   billing_period, trial_ends_at, current_period_start, current_period_end,
                                   cancel_at_period_end, provider_updated_at, grace_until)
        select account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
               state_billing_period, state_trial_ends_at, state_period_start, state_period_end,
               state_cancel_at_period_end, state_updated_at, state_grace_until
        where exists (select 1 from users where id = account)
        on conflict (provider, provider_subscription_id) do nothing
        returning id into created_id;
        if created_id is null then  -- stored meanwhile by a concurrent recording, or there is no account
            select * into stored from subscriptions
            where provider = state_provider and provider_subscription_id = state_subscription_id
            for update;
        end if;
    end if;
    if created_id is not null then
        insert into subscription_status_history (subscription_id, user_id, from_status, to_status, from_tier,
                                                 to_tier, cause_kind, cause_ref)
        values (created_id, account, null, state_status, null, state_tier, cause_kind, cause_ref);
        outcome := 'created';
    else
        if stored.id is null then
            outcome := 'no_account';  -- not inserted for want of the account, and not stored for another
        elsif stored.user_id <> account then
            outcome := 'owned_elsewhere';
        else
            outcome := cookcam_subscription_ordering(
                stored.status, stored.provider_updated_at, state_provider, state_status, state_updated_at);
            if outcome = 'apply' and stored.status = 'revoked'
               and state_status not in ('trialing', 'active', 'grace_period', 'cancelled') then
                outcome := 'unchanged';
            elsif outcome = 'apply' then
                update subscriptions set
                    tier_slug = state_tier,
                    status = state_status,
                    environment = state_environment,
                    billing_period = state_billing_period,
                    trial_ends_at = state_trial_ends_at,
                    current_period_start = state_period_start,
                    current_period_end = state_period_end,
                    cancel_at_period_end = state_cancel_at_period_end,
                    -- An ending applied whatever its time never moves the stored time back.
                    provider_updated_at = greatest(state_updated_at, stored.provider_updated_at),
                    grace_until = state_grace_until,
                    updated_at = now()
                where id = stored.id;
                if (stored.status, stored.tier_slug) = (state_status, state_tier) then
                    -- Not a status change (no history row), but the user sees it: a renewal switched off or back
                    -- on, or a period that moved (a renewal).
                    outcome := case
                        when (stored.cancel_at_period_end, stored.current_period_end)
                             is distinct from (state_cancel_at_period_end, state_period_end) then 'changed'
                        else 'unchanged' end;
                else
                    insert into subscription_status_history (subscription_id, user_id, from_status, to_status,
                                                             from_tier, to_tier, cause_kind, cause_ref)
                    values (stored.id, account, stored.status, state_status, stored.tier_slug, state_tier,
                            cause_kind, cause_ref);
                    outcome := 'changed';
                end if;
            end if;
        end if;
    end if;
    perform set_config('cookcam.recording_context', '', true);
    if outcome in ('no_account', 'owned_elsewhere') then
        after_tier := before_tier;
        return;
    end if;
    after_tier := cookcam_entitled_tier(account);
    if outcome in ('created', 'changed') or before_tier <> after_tier then
        perform pg_notify('cookcam_events', cookcam_user_event(account, 'subscription.updated',
                                    jsonb_build_object('tier_slug', after_tier, 'status', state_status)));
    end if;
end $$;
