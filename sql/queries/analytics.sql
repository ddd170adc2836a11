-- name: InsertAnalyticsEvent :exec
insert into analytics_events (user_id, event_type, event_data, metadata)
values (@user_id, @event_type, @event_data, @metadata);

-- name: GetAnalyticsDashboard :one
-- The caller's figures for [period_start, period_end): one statement, one snapshot, every part bounded by an index
-- on the user. The total XP is the current one, whatever the period; the top 20 event types come as a JSON array.
select
    (select count(*) from scans s
     where s.user_id = @user_id and s.created_at >= @period_start and s.created_at < @period_end)::bigint as scans,
    (select count(*) from recipes r
     where r.user_id = @user_id and r.created_at >= @period_start and r.created_at < @period_end)::bigint
        as recipes_created,
    (select count(*) from saved_recipes sr
     where sr.user_id = @user_id and sr.created_at >= @period_start and sr.created_at < @period_end)::bigint
        as recipes_saved,
    (select count(*) from favorite_recipes f
     where f.user_id = @user_id and f.created_at >= @period_start and f.created_at < @period_end)::bigint
        as recipes_favorited,
    (select count(*) from recipe_ratings rr
     where rr.user_id = @user_id and rr.updated_at >= @period_start and rr.updated_at < @period_end)::bigint
        as recipes_rated,
    (select coalesce(sum(l.amount), 0) from xp_ledger l
     where l.user_id = @user_id and l.awarded_at >= @period_start and l.awarded_at < @period_end)::bigint
        as xp_earned,
    coalesce((select t.total_xp from xp_totals t where t.user_id = @user_id), 0)::bigint as total_xp,
    (select count(*) from analytics_events e
     where e.user_id = @user_id and e.received_at >= @period_start and e.received_at < @period_end)::bigint
        as events_tracked,
    (select coalesce(jsonb_agg(jsonb_build_object('event_type', top.event_type, 'count', top.events)
                               order by top.events desc, top.event_type), '[]'::jsonb)
     from (select e.event_type, count(*) as events
           from analytics_events e
           where e.user_id = @user_id and e.received_at >= @period_start and e.received_at < @period_end
           group by e.event_type
           order by events desc, e.event_type
           limit 20) top)::jsonb as events_by_type;

-- name: ExportAnalyticsEvents :many
-- The account's events (data export): the newest 10,000.
select event_type, event_data, metadata, received_at
from analytics_events
where user_id = @user_id
order by received_at desc, id desc
limit 10000;

-- name: PurgeExpiredAnalyticsEvents :execrows
-- Retention (purge-expired): events received before @before.
delete from analytics_events where received_at < @before;
