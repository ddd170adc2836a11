-- A grace period for Stripe billing problems (docs/payments.md "Billing grace"): a Stripe subscription whose renewal
-- charge failed (Stripe's `past_due`) is `billing_retry` and keeps its tier until grace_until, as the stores' own
-- grace periods do. grace_until is written from Stripe's own fields (the renewal's period start plus
-- STRIPE_GRACE_DAYS) whenever the subscription is recorded; the reads compare it with now(), so access ends when the
-- grace ends without a job (the creator_until design of migration 0026). Null: no grace (every other status, the
-- stores' billing_retry, and a first charge after a free trial, which has paid nothing yet).

alter table subscriptions add column grace_until timestamptz;

-- creator_until (migration 0026) now also counts a creator subscription in billing grace, until its grace ends.
create or replace function cookcam_refresh_creator_until(account uuid) returns void language plpgsql as $$
declare
    granted_until timestamptz;
begin
    perform cookcam_lock_account(account);
    select max(case when s.status in ('trialing', 'active', 'grace_period') then 'infinity'::timestamptz
                    when s.status = 'cancelled' then s.current_period_end
                    when s.status = 'billing_retry' then s.grace_until end)
    into granted_until
    from subscriptions s
    where s.user_id = account and s.tier_slug = 'creator';
    update users set creator_until = granted_until
    where id = account and creator_until is distinct from granted_until;
end $$;

drop trigger subscriptions_creator_state on subscriptions;
create trigger subscriptions_creator_state after insert or update of status, environment, tier_slug,
    current_period_end, grace_until on subscriptions
    for each row execute function cookcam_subscription_changed();
