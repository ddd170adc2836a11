-- name: LockReferenceData :exec
-- Held until the transaction ends: instances starting together load the data once.
select pg_advisory_xact_lock(hashtext('cookcam-reference-data'));

-- name: GetReferenceVersion :one
select sha256 from reference_data where name = @name;

-- name: SetReferenceVersion :exec
insert into reference_data (name, sha256) values (@name, @sha256)
on conflict (name) do update set sha256 = excluded.sha256, loaded_at = now();
