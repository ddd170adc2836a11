-- name: HitRateLimits :many
-- Counts one hit in each bucket's current window and returns the windows' totals, atomically, in one round trip.
insert into rate_limit_counters (bucket, window_start, hits)
-- (Two unnest calls in one select list advance together, pairing each bucket with its window.)
select unnest(@buckets::text[]), unnest(@window_starts::timestamptz[]), 1
on conflict (bucket, window_start) do update set hits = rate_limit_counters.hits + 1
returning bucket, hits;

-- name: PurgeRateLimitCounters :execrows
delete from rate_limit_counters where window_start < @before;
