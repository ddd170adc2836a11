-- name: TryJobLock :one
-- One runner per job across every machine: a session-level lock taken on a connection of the job's own (never a
-- pooled one), so the job's work borrows pooled connections only around its statements and none is held while a
-- provider answers. Released by ReleaseJobLock, or by PostgreSQL when that connection ends (a crashed runner).
select pg_try_advisory_lock(hashtext(@job_name::text)) as locked;

-- name: ReleaseJobLock :one
select pg_advisory_unlock(hashtext(@job_name::text)) as released;
