-- name: HitRateLimit :one
-- Counts one hit in the bucket's current window and returns the window's total, atomically.
insert into rate_limit_counters (bucket, window_start, hits)
values (@bucket, @window_start, 1)
on conflict (bucket, window_start) do update set hits = rate_limit_counters.hits + 1
returning hits;

-- name: PurgeRateLimitCounters :execrows
delete from rate_limit_counters where window_start < @before;
