-- A cache-hit generation in one statement (docs/benchmarks.md, "Where the time goes (2026-12-07): StoreKit
-- validation, cache-hit generation and scan"). A hit used to take five round trips and a transaction of its own
-- after the caller's session read: the tier's limits, BEGIN, the cache read, the usage counter, the session insert
-- and COMMIT. The two billing rules it needs become functions so that billing's queries and this one share them
-- rather than each keeping a copy.

-- The slug of the tier the account is entitled to right now (cookcam_entitled_subscription's rule; free when none).
create function cookcam_entitled_tier(account uuid) returns text language plpgsql stable as $$
begin
    return coalesce((select s.tier_slug from subscriptions s where s.id = cookcam_entitled_subscription(account)),
                    'free');
end $$;

-- One more use of a limited feature in the period, only while under the limit; null when the limit is reached.
-- Atomic under concurrency: the row lock serialises increments and the WHERE re-checks the count.
create function cookcam_consume_usage(
    account uuid, usage_metric text, usage_period_start timestamptz, usage_limit integer
) returns integer language plpgsql as $$
declare
    counted integer;
begin
    insert into usage_counters (user_id, metric, period_start, used)
    values (account, usage_metric, usage_period_start, 1)
    on conflict (user_id, metric, period_start) do update set used = usage_counters.used + 1
    where usage_counters.used < usage_limit
    returning usage_counters.used into counted;
    return counted;
end $$;

-- Offer a cached generation as a new recipe session, counted as one generation of the month:
--   monthly_limit: the generations a month the account's tier allows, else the fair-use cap (also on a miss, for
--                  the generation that follows);
--   value:         the cached answer; null on a miss, and then nothing is written;
--   session_id:    the session that offers it; null when the month's generations are used up (nothing written).
create function cookcam_offer_cached_generation(
    account uuid, generation_key text, fair_use integer, usage_metric text, usage_period_start timestamptz,
    session_request jsonb, out monthly_limit integer, out value jsonb, out session_id uuid
) language plpgsql as $$
begin
    select coalesce(t.recipes_per_month, fair_use) into monthly_limit
    from tiers t where t.slug = cookcam_entitled_tier(account);
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
