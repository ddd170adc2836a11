-- Creator earnings are payable only after a hold that covers the provider's refund and chargeback window
-- (CREATORS_HOLD_DAYS_STRIPE / _APPLE / _GOOGLE, docs/creators.md "The hold"). `payable_at` is decided when the
-- earning is recorded and kept with it, so a later change of the setting applies to later earnings only; a
-- reversal carries its earning's `payable_at`, so a refund during the hold cancels the held earning and never
-- touches what is available. The balance counts an amount as available once `payable_at` has passed.
alter table creator_earnings add column payable_at timestamptz;
-- Earnings recorded before this migration were available at once: they stay so (some may be paid out already).
update creator_earnings set payable_at = created_at;
alter table creator_earnings alter column payable_at set not null;

create or replace function refuse_creator_earnings_update() returns trigger language plpgsql as $$
begin
    -- Only the anonymising set-null of a deleted account or subscription (or link) may change a row.
    if (new.id, new.creator_id, new.provider, new.period_start, new.kind, new.amount_cents, new.net_cents,
        new.share_percent, new.currency, new.created_at, new.period_key, new.payable_at)
       is distinct from
       (old.id, old.creator_id, old.provider, old.period_start, old.kind, old.amount_cents, old.net_cents,
        old.share_percent, old.currency, old.created_at, old.period_key, old.payable_at) then
        raise exception 'creator_earnings is append-only';
    end if;
    return new;
end $$;
