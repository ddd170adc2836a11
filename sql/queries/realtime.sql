-- name: NotifyUserEvent :exec
-- Delivered to listeners only when the surrounding transaction commits.
select pg_notify('cookcam_events', @payload::text);
