-- Recording a subscription's state in one statement (docs/payments.md, "Recording a state"; docs/benchmarks.md,
-- "Where the time goes: the Stripe webhook"). The rules that were spread over six round trips of
-- app/billing/entitlements.py (the entitlement before and after, insert or lock, the ordering rule, the update and
-- its history row) move here, each once: the queries and app/billing/entitlements.py call these functions.

-- The subscription granting the best tier right now: trialing, active or in a store's grace, cancelled with paid time
-- left, or in Stripe billing retry within its grace (grace_until, migration 0039). Null: none does (the free tier).
-- PL/pgSQL rather than SQL: a session plans its query once (a SQL function that cannot be inlined is planned again
-- on every call, which cost more than the query).
create function cookcam_entitled_subscription(account uuid) returns uuid language plpgsql stable as $$
begin
    return (
        select s.id
        from subscriptions s
        join tiers t on t.slug = s.tier_slug
        where s.user_id = account
          and (s.status in ('trialing', 'active', 'grace_period')
               or (s.status = 'cancelled' and s.current_period_end > now())
               or (s.status = 'billing_retry' and s.grace_until > now()))
        order by t.rank desc, s.current_period_end desc nulls last
        limit 1);
end $$;

-- The ordering rule (inlined where it is called): whether a provider's state (its provider, status and timestamp) moves the one stored for its
-- subscription: 'apply', 'stale' or 'final'.
-- 1. Stripe and Google: an ended subscription (expired, revoked) is final, and a report that it ended applies
--    whatever its timestamp, since it is true from then on. This alone decides every same-second pair with an
--    ending, and a refetch stamped with our clock cannot hide a later customer.subscription.deleted. (A Stripe
--    subscription id never runs again once ended, nor a Google purchase token; the App Store keeps the
--    originalTransactionId when a customer resubscribes and lifts a refund it reverses: nothing is final there.)
-- 2. Otherwise the provider's own timestamp orders states: an older one is stale.
-- 3. On equal timestamps (Stripe's whole seconds, Apple's equal signedDates) an ending wins: a state that does not
--    end the subscription does not replace one that does.
create function cookcam_subscription_ordering(
    stored_status text, stored_at timestamptz, provider text, status text, reported_at timestamptz
) returns text language sql immutable as $$
    select case
        when provider in ('stripe', 'google') and stored_status in ('expired', 'revoked') then 'final'
        when provider in ('stripe', 'google') and status in ('expired', 'revoked') then 'apply'
        when reported_at < stored_at then 'stale'
        when reported_at = stored_at and stored_status in ('expired', 'revoked')
             and status not in ('expired', 'revoked') then 'stale'
        else 'apply'
    end
$$;

-- Create or update a subscription from verified provider data and keep the history of every status or tier change
-- with its cause; returns the outcome with the entitled tier before and after:
--   created, changed (something the user sees moved), unchanged, stale, final (the ordering rule refused it),
--   owned_elsewhere (the subscription id is bound to another account), no_account (the account was deleted).
-- The two refusals write nothing. A revoked subscription stays revoked until its provider grants it again (a
-- refunded App Store purchase: the "expired" that follows must not hide why).
create function cookcam_record_subscription_state(
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, cause_ref text,
    out outcome text, out before_tier text, out after_tier text
) language plpgsql as $$
declare
    stored subscriptions%rowtype;
    created_id uuid;
begin
    before_tier := coalesce((select tier_slug from subscriptions where id = cookcam_entitled_subscription(account)),
                            'free');
    insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status, environment,
                               billing_period, trial_ends_at, current_period_start, current_period_end,
                               cancel_at_period_end, provider_updated_at, grace_until)
    select account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
           state_billing_period, state_trial_ends_at, state_period_start, state_period_end,
           state_cancel_at_period_end, state_updated_at, state_grace_until
    where exists (select 1 from users where id = account)
    on conflict (provider, provider_subscription_id) do nothing
    returning id into created_id;
    if created_id is not null then
        insert into subscription_status_history (subscription_id, user_id, from_status, to_status, from_tier,
                                                 to_tier, cause_kind, cause_ref)
        values (created_id, account, null, state_status, null, state_tier, cause_kind, cause_ref);
        outcome := 'created';
    else
        select * into stored from subscriptions
        where provider = state_provider and provider_subscription_id = state_subscription_id
        for update;
        if not found then
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
    if outcome in ('no_account', 'owned_elsewhere') then
        after_tier := before_tier;
    else
        after_tier := coalesce((select tier_slug from subscriptions where id = cookcam_entitled_subscription(account)),
                               'free');
    end if;
end $$;
