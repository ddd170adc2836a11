-- name: NotifyUserEvent :exec
-- Delivered to listeners only when the surrounding transaction commits.
select pg_notify('cookcam_events', @payload::text);

-- name: NotifyUserEvents :exec
-- One notification per payload (each names its recipient), in one round trip; delivered at commit, in order.
select pg_notify('cookcam_events', payload)
from unnest(@payloads::text[]) with ordinality as queued (payload, position)
order by position;
