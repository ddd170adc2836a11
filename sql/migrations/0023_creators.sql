-- Creators: affiliate links (codes from a CSPRNG, optional custom slugs), de-duplicated clicks, attribution of a
-- referred account to a link (first valid one wins), and the revenue-share ledger: a share of each paid period of a
-- referred account's subscription, reversed when that period is refunded or revoked.

create table affiliate_links (
    id uuid primary key default gen_random_uuid(),
    creator_id uuid not null references users (id) on delete cascade,
    -- 12 characters of Crockford base32 from secrets (60 bits): not guessable, not enumerable.
    code text not null unique check (code ~ '^[0-9a-hjkmnp-tv-z]{12}$'),
    -- Optional, chosen by the creator; unique across codes and slugs (the app resolves either).
    custom_slug text unique check (custom_slug ~ '^[a-z0-9](?:[a-z0-9-]{1,30}[a-z0-9])$'),
    created_at timestamptz not null default now(),
    disabled_at timestamptz
);
create index affiliate_links_creator_idx on affiliate_links (creator_id, created_at);

-- One row per link, visitor and UTC day: a visitor is a keyed hash of the client address and user agent (no raw
-- address is kept), so repeated clicks count once a day.
create table affiliate_clicks (
    link_id uuid not null references affiliate_links (id) on delete cascade,
    visitor bytea not null check (length(visitor) = 32),
    day date not null,
    clicks integer not null default 1 check (clicks > 0),
    primary key (link_id, day, visitor)
);

-- The placeholder table of migration 0001 now names the link (null for codes that predate creators).
alter table referral_attributions add column link_id uuid references affiliate_links (id) on delete set null;
create index referral_attributions_link_idx on referral_attributions (link_id) where link_id is not null;

-- What each provider keeps of a payment, in percent: the stores' commission (15 % for subscriptions after their
-- first year and for small businesses) and Stripe's processing fee (about 3 %). A paid period's net amount is the
-- tier's list price less this; creators get the creator tier's revenue_share_percent of it. Estimates: the
-- providers' own reports are exact, and a later change here applies to later periods only.
create table provider_fees (
    provider text primary key check (provider in ('stripe', 'apple', 'google')),
    fee_percent integer not null check (fee_percent between 0 and 100)
);
insert into provider_fees (provider, fee_percent) values ('stripe', 3), ('apple', 15), ('google', 15);

-- The revenue-share ledger. Append-only: an earning per paid period of a referred subscription, and at most one
-- reversal of it. The referred account and its subscription may be deleted later; the creator's money stays, so
-- those columns are set null (anonymised), never cascaded.
create table creator_earnings (
    id uuid primary key default gen_random_uuid(),
    creator_id uuid not null references users (id) on delete cascade,
    link_id uuid references affiliate_links (id) on delete set null,
    referred_user_id uuid references users (id) on delete set null,
    subscription_id uuid references subscriptions (id) on delete set null,
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    period_start timestamptz not null,
    kind text not null check (kind in ('earning', 'reversal')),
    -- Cents in the tier's currency: positive for an earning, the negative of it for its reversal.
    amount_cents integer not null check ((kind = 'earning' and amount_cents >= 0) or (kind = 'reversal' and amount_cents <= 0)),
    net_cents integer not null check (net_cents >= 0),
    share_percent integer not null check (share_percent between 0 and 100),
    currency text not null,
    created_at timestamptz not null default now(),
    -- The key that makes a period earn (and be reversed) once, whoever reports it and however often. Kept as
    -- text so that it survives the subscription's deletion.
    period_key text not null,
    unique (period_key, kind)
);
create index creator_earnings_creator_idx on creator_earnings (creator_id, created_at desc);

create function refuse_creator_earnings_update() returns trigger language plpgsql as $$
begin
    -- Only the anonymising set-null of a deleted account or subscription (or link) may change a row.
    if (new.id, new.creator_id, new.provider, new.period_start, new.kind, new.amount_cents, new.net_cents,
        new.share_percent, new.currency, new.created_at, new.period_key)
       is distinct from
       (old.id, old.creator_id, old.provider, old.period_start, old.kind, old.amount_cents, old.net_cents,
        old.share_percent, old.currency, old.created_at, old.period_key) then
        raise exception 'creator_earnings is append-only';
    end if;
    return new;
end $$;
create trigger creator_earnings_append_only before update on creator_earnings
    for each row execute function refuse_creator_earnings_update();
