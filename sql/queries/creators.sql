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

-- name: ReverseEarning :exec
-- The reversal of a period's earning (a voided order), once, with its creator's notice; nothing when there is none
-- to reverse (cookcam_reverse_earning, migration 0057; paid periods are earned by its trigger on subscriptions).
select reversed_creator_id from cookcam_reverse_earning(@period_key);

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
