-- is_creator and creator_tier are derived, never stored as flags anyone could set (docs/creators.md).
--
-- is_creator: the account holds the creator entitlement now, on any provider (GetEntitledSubscription's rule).
-- users.creator_until keeps when that ends: 'infinity' while a creator subscription is trialing, active or in
-- grace, the end of its paid period once cancelled, null when none grants it. The hot read compares it with now(),
-- so a cancelled subscription stops counting the moment its period ends, without a job.
--
-- creator_tier: the level from the creator's active referred subscriptions (1 Sous Chef 0-99, 2 Pastry Chef 100-999,
-- 3 Head Chef 1,000-9,999, 4 Executive Chef 10,000-99,999, 5 Master Chef 100,000+), null for non-creators. Each
-- affiliate link counts the live production subscriptions of the accounts it referred, so a creator's count is a
-- sum over their few links instead of a scan of up to 100,000 subscriptions on every /auth/me.
--
-- Triggers keep both in the writer's own transaction, whichever code path writes (provider events, jobs, support
-- tools), so every snapshot sees them agree with the subscriptions.

alter table users drop column is_creator, drop column creator_tier;
alter table users add column creator_until timestamptz;

alter table affiliate_links add column active_referrals integer not null default 0 check (active_referrals >= 0);

-- A subscription that counts towards its referrer's tier: paid and renewing, with real money (a sandbox purchase
-- from TestFlight, App Review or Stripe test mode never counts).
create function cookcam_counts_as_referral(status text, environment text) returns boolean
language sql immutable as $$
    select status in ('active', 'grace_period') and environment = 'production'
$$;

create function cookcam_is_creator(creator_until timestamptz) returns boolean
language sql stable as $$
    select coalesce(creator_until > now(), false)
$$;

-- The creator level from the creator's live referred subscriptions. Queries call it only for creators
-- (`case when cookcam_is_creator(...) then ... end`): a function with a subquery is not inlined, and its body would
-- otherwise be planned again on every authenticated request.
create function cookcam_creator_level(creator_id uuid) returns integer
language sql stable as $$
    select case
               when referred >= 100000 then 5
               when referred >= 10000 then 4
               when referred >= 1000 then 3
               when referred >= 100 then 2
               else 1
           end
    from (select coalesce(sum(l.active_referrals), 0) as referred
          from affiliate_links l where l.creator_id = cookcam_creator_level.creator_id) as counted
$$;

-- Serialises the changes that touch one account's derived creator state (its subscriptions, its attribution):
-- each trigger locks the account's row first, so the statements after the lock see every change committed
-- meanwhile. FOR NO KEY UPDATE does not block rows that merely reference the account.
create function cookcam_lock_account(account uuid) returns void language plpgsql as $$
begin
    perform 1 from users where id = account for no key update;
end $$;

create function cookcam_refresh_creator_until(account uuid) returns void language plpgsql as $$
declare
    granted_until timestamptz;
begin
    perform cookcam_lock_account(account);
    select max(case when s.status in ('trialing', 'active', 'grace_period') then 'infinity'::timestamptz
                    when s.status = 'cancelled' then s.current_period_end end)
    into granted_until
    from subscriptions s
    where s.user_id = account and s.tier_slug = 'creator';
    update users set creator_until = granted_until
    where id = account and creator_until is distinct from granted_until;
end $$;

-- Adds `change` live subscriptions to the link that referred `account`, if any.
create function cookcam_count_referrals(account uuid, change integer) returns void language sql as $$
    update affiliate_links l set active_referrals = l.active_referrals + change
    from referral_attributions a
    where a.user_id = account and l.id = a.link_id and change <> 0
$$;

-- How many of the account's subscriptions count towards a referrer now.
create function cookcam_live_referral_count(account uuid) returns integer language sql stable as $$
    select count(*)::integer from subscriptions s
    where s.user_id = account and cookcam_counts_as_referral(s.status, s.environment)
$$;

create function cookcam_subscription_changed() returns trigger language plpgsql as $$
declare
    counted_before boolean := tg_op <> 'INSERT' and cookcam_counts_as_referral(old.status, old.environment);
    counted_after boolean := tg_op <> 'DELETE' and cookcam_counts_as_referral(new.status, new.environment);
    account uuid := case when tg_op = 'DELETE' then old.user_id else new.user_id end;
begin
    if (tg_op <> 'DELETE' and new.tier_slug = 'creator') or (tg_op <> 'INSERT' and old.tier_slug = 'creator') then
        perform cookcam_refresh_creator_until(account);
    end if;
    if counted_before <> counted_after then
        perform cookcam_lock_account(account);
        perform cookcam_count_referrals(account, case when counted_after then 1 else -1 end);
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end $$;

-- Inserts and updates after the row is written (an insert that ON CONFLICT skips fires nothing); deletes before,
-- so that while an account is erased, whichever of its subscriptions and its attribution goes first, the other's
-- trigger still sees the state it must subtract from (AFTER triggers of a cascade would all see both gone).
create trigger subscriptions_creator_state after insert or update of status, environment, tier_slug,
    current_period_end on subscriptions
    for each row execute function cookcam_subscription_changed();
create trigger subscriptions_creator_state_on_delete before delete on subscriptions
    for each row execute function cookcam_subscription_changed();

create function cookcam_attribution_changed() returns trigger language plpgsql as $$
declare
    account uuid := case when tg_op = 'DELETE' then old.user_id else new.user_id end;
    live integer;
begin
    perform cookcam_lock_account(account);
    live := cookcam_live_referral_count(account);
    if live > 0 then
        if tg_op <> 'INSERT' and old.link_id is not null then
            update affiliate_links set active_referrals = active_referrals - live where id = old.link_id;
        end if;
        if tg_op <> 'DELETE' and new.link_id is not null then
            update affiliate_links set active_referrals = active_referrals + live where id = new.link_id;
        end if;
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end $$;

-- A deleted link sets its attributions' link_id to null: the update moves their count off a row that is gone.
create trigger referral_attributions_creator_state after insert or update of link_id on referral_attributions
    for each row execute function cookcam_attribution_changed();
create trigger referral_attributions_creator_state_on_delete before delete on referral_attributions
    for each row execute function cookcam_attribution_changed();

-- The state of the accounts and links that exist already.
select cookcam_refresh_creator_until(user_id) from (select distinct user_id from subscriptions where tier_slug = 'creator') creators;

update affiliate_links l set active_referrals = (
    select coalesce(sum(cookcam_live_referral_count(a.user_id)), 0) from referral_attributions a where a.link_id = l.id
);
