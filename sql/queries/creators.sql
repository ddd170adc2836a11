-- name: CountCreatorLinks :one
select count(*) from affiliate_links where creator_id = @creator_id;

-- name: InsertAffiliateLink :one
-- A new link; null when the code or the slug is taken (by a code or a slug: the app resolves either).
insert into affiliate_links (creator_id, code, custom_slug)
select @creator_id, @code, sqlc.narg(custom_slug)
where not exists (
    select from affiliate_links l
    where l.code = any(array[@code, sqlc.narg(custom_slug)]::text[])
       or l.custom_slug = any(array[@code, sqlc.narg(custom_slug)]::text[])
)
on conflict do nothing
returning id, code, custom_slug, created_at;

-- name: ListCreatorLinks :many
-- The creator's links with their clicks (all and unique visitor-days), sign-ups attributed and paid periods.
select l.id, l.code, l.custom_slug, l.created_at, l.disabled_at,
       coalesce((select sum(c.clicks) from affiliate_clicks c where c.link_id = l.id), 0)::bigint as clicks,
       (select count(*) from affiliate_clicks c where c.link_id = l.id)::bigint as unique_clicks,
       (select count(*) from referral_attributions r where r.link_id = l.id)::bigint as signups,
       (select count(*) from creator_earnings e where e.link_id = l.id and e.kind = 'earning')::bigint as conversions
from affiliate_links l
where l.creator_id = @creator_id
order by l.created_at, l.id
limit 100;

-- name: ResolveAffiliateLink :one
-- An active link by its code or custom slug.
select id, creator_id from affiliate_links
where (code = @code_or_slug or custom_slug = @code_or_slug) and disabled_at is null;

-- name: RecordAffiliateClick :one
-- Counts a click; `first` says whether this visitor's first click of the day on this link.
insert into affiliate_clicks (link_id, visitor, day) values (@link_id, @visitor, @day)
on conflict (link_id, day, visitor) do update set clicks = affiliate_clicks.clicks + 1
returning clicks = 1 as first;

-- name: AttributeReferral :execrows
-- First valid attribution wins: an account already attributed keeps its link.
insert into referral_attributions (user_id, referral_code, link_id) values (@user_id, @referral_code, @link_id)
on conflict (user_id) do nothing;

-- name: ReferrerOf :one
-- The link and creator that referred a user, with the creator tier's revenue share.
select a.link_id, l.creator_id,
       (select t.revenue_share_percent from tiers t where t.slug = 'creator')::integer as share_percent
from referral_attributions a
join affiliate_links l on l.id = a.link_id
where a.user_id = @user_id;

-- name: InsertEarning :one
-- A paid period's share for the referrer of its subscriber, once per period whoever reports it and however often:
-- the tier's list price for the billing period, less the provider's fee, times the creator tier's share, payable
-- after @hold_days (the provider's refund and chargeback window). Null when the subscriber was not referred through
-- a link, the subscription is a sandbox (test) purchase, the period began before the subscriber was attributed
-- (periods count from the attribution on), or the period is already recorded: by its key, or as an earning of the
-- subscription with the same start (a Google period's key was its start before it became its order id).
insert into creator_earnings (creator_id, link_id, referred_user_id, subscription_id, provider, period_start, kind,
                              amount_cents, net_cents, share_percent, currency, period_key, payable_at)
select l.creator_id, l.id, a.user_id, s.id, s.provider, @period_start, 'earning',
       net.cents * share.percent / 100, net.cents, share.percent, t.currency, @period_key,
       now() + make_interval(days => @hold_days::integer)
from referral_attributions a
join affiliate_links l on l.id = a.link_id
join subscriptions s on s.provider = @provider and s.provider_subscription_id = @provider_subscription_id
join tiers t on t.slug = s.tier_slug
join provider_fees f on f.provider = s.provider
cross join lateral (
    select (case when @billing_period::text = 'yearly' then t.yearly_price_cents else t.monthly_price_cents end)
           * (100 - f.fee_percent) / 100 as cents
) net
cross join lateral (select c.revenue_share_percent as percent from tiers c where c.slug = 'creator') share
where a.user_id = @user_id and s.user_id = @user_id
  and s.environment = 'production'
  and a.linked_at <= @period_start
  and not exists (
      select from creator_earnings e
      where e.creator_id = l.creator_id and e.subscription_id = s.id and e.period_start = @period_start
        and e.kind = 'earning'
  )
on conflict (period_key, kind) do nothing
returning id, creator_id, amount_cents, currency;

-- name: ReverseEarning :one
-- The reversal of a period's earning (refund or revocation), once; null when there is none to reverse.
-- It carries its earning's payable_at: during the hold both stay pending and cancel out there.
insert into creator_earnings (creator_id, link_id, referred_user_id, subscription_id, provider, period_start, kind,
                              amount_cents, net_cents, share_percent, currency, period_key, payable_at)
select e.creator_id, e.link_id, e.referred_user_id, e.subscription_id, e.provider, e.period_start, 'reversal',
       -e.amount_cents, e.net_cents, e.share_percent, e.currency, e.period_key, e.payable_at
from creator_earnings e
where e.period_key = @period_key and e.kind = 'earning'
on conflict (period_key, kind) do nothing
returning id, creator_id, amount_cents;

-- name: ListCreatorEarnings :many
-- row: Earning
select id, link_id, provider, period_start, kind, amount_cents, net_cents, share_percent, currency, created_at,
       payable_at
from creator_earnings
where creator_id = @creator_id
order by created_at desc, id
limit @max_rows offset @skip;

-- name: CreatorEarningsTotal :one
-- Everything earned, net of reversals (cents).
select coalesce(sum(amount_cents), 0)::bigint as earned_cents,
       coalesce(sum(amount_cents) filter (where kind = 'reversal'), 0)::bigint as reversed_cents
from creator_earnings
where creator_id = @creator_id;

-- name: CreatorAnalytics :one
-- Clicks, sign-ups, paid periods and revenue of all the creator's links since @since.
select coalesce((select sum(c.clicks) from affiliate_clicks c join affiliate_links l on l.id = c.link_id
                 where l.creator_id = @creator_id and c.day >= @since::date), 0)::bigint as clicks,
       (select count(*) from affiliate_clicks c join affiliate_links l on l.id = c.link_id
        where l.creator_id = @creator_id and c.day >= @since::date)::bigint as unique_clicks,
       (select count(*) from referral_attributions r join affiliate_links l on l.id = r.link_id
        where l.creator_id = @creator_id and r.linked_at >= @since)::bigint as signups,
       (select count(*) from creator_earnings e
        where e.creator_id = @creator_id and e.kind = 'earning' and e.created_at >= @since)::bigint as conversions,
       (select coalesce(sum(e.amount_cents), 0) from creator_earnings e
        where e.creator_id = @creator_id and e.created_at >= @since)::bigint as revenue_cents;

-- name: ExportAffiliateLinks :many
select code, custom_slug, created_at, disabled_at from affiliate_links where creator_id = @creator_id order by created_at;

-- name: ExportCreatorEarnings :many
select provider, period_start, kind, amount_cents, currency, created_at, payable_at
from creator_earnings
where creator_id = @creator_id
order by created_at, id
limit 100000;
