-- name: ClaimEvent :one
-- Records the event, or takes it over when an earlier attempt failed or its claim's lease ran out. No row: the
-- event is processed already, or another worker holds a live claim.
insert into provider_events (provider, event_id, event_type, status, attempts, payload, claimed_until)
values (@provider, @event_id, @event_type, 'processing', 1, @payload,
        now() + make_interval(secs => @lease_seconds::double precision))
on conflict (provider, event_id) do update set
    status = 'processing',
    attempts = provider_events.attempts + 1,
    claimed_until = excluded.claimed_until,
    error = null
where provider_events.status = 'failed'
   or (provider_events.status = 'processing' and provider_events.claimed_until < now())
returning id, attempts;

-- name: StoreEvent :one
-- An event whose effect calls no provider, stored in the transaction that applies its effect ('processed'), or
-- after that transaction was rolled back ('failed', with the error). No row: the event is processed already, or
-- another worker holds a live claim (cookcam_store_event, migration 0057, says how concurrent deliveries meet).
select stored_id as id, stored_attempts as attempts
from cookcam_store_event(@provider, @event_id, @event_type, @status, @payload::jsonb, sqlc.narg(error))
where stored_id is not null;

-- name: GetEventStatus :one
select status from provider_events where provider = @provider and event_id = @event_id;

-- name: HoldClaim :one
-- First statement of the effect's transaction: locks the event row, so a takeover waits for this transaction to
-- end, and matches only while this worker's claim (its attempt number) is still the current one.
select id from provider_events
where id = @id and attempts = @attempt and status = 'processing'
for update;

-- name: CompleteEvent :exec
-- Last statement of the effect's transaction (the row is held since HoldClaim).
update provider_events
set status = 'processed', processed_at = now(), claimed_until = null, duration_ms = @duration_ms
where id = @id;

-- name: FailEvent :execrows
update provider_events
set status = 'failed', claimed_until = null, error = @error
where id = @id and attempts = @attempt and status = 'processing';

-- name: ListRetryableEventIds :many
-- Events delivered but never finished: failed ones, and claims whose lease ran out (crashed workers); ids only, so
-- one run sees all of them however many there are. The likeliest to recover come first: abandoned claims (their
-- effect never failed), then by fewest attempts, oldest first; events failing on every attempt go last.
select id
from provider_events
where status <> 'processed'
  and (status = 'failed' or claimed_until < now())
  and attempts < @max_attempts::integer
order by status = 'failed', attempts, received_at, id;

-- name: GetRetryableEvents :many
-- One batch of ListRetryableEventIds, in its order, with the payloads; an event finished or claimed since is left out.
select id, provider, event_id, event_type, payload, attempts
from provider_events
where id = any(@ids::uuid[])
  and status <> 'processed'
  and (status = 'failed' or claimed_until < now())
  and attempts < @max_attempts::integer
order by array_position(@ids::uuid[], id);

-- name: RedactProcessedEventPayloads :execrows
-- Retention: processed events keep their id (deduplication) and bookkeeping; the provider's payload, which names
-- accounts and purchases, is dropped after BILLING_EVENT_PAYLOAD_RETENTION_DAYS.
update provider_events set payload = '{}'::jsonb
where status = 'processed' and processed_at < @before and payload <> '{}'::jsonb;
