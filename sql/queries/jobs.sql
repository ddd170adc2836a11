-- name: TryJobLock :one
-- Held until the surrounding transaction ends: one runner per job across every machine.
select pg_try_advisory_xact_lock(hashtext(@job_name::text)) as locked;
