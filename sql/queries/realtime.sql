-- name: NotifyUserEvent :exec
-- Delivered to listeners only when the surrounding transaction commits (the envelope: cookcam_user_event, migration
-- 0057). The data is JSON text, so that any connection can publish (no jsonb codec needed).
select pg_notify('cookcam_events', cookcam_user_event(@user_id, @event_type, (@event_data::text)::jsonb));

-- name: NotifyUserEvents :exec
-- One notification per recipient, in one round trip; delivered at commit, in order.
select pg_notify('cookcam_events', cookcam_user_event(recipient, @event_type, (@event_data::text)::jsonb))
from unnest(@user_ids::uuid[]) with ordinality as queued (recipient, position)
order by position;
