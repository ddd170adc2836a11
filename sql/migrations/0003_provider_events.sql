-- Every inbound provider event (Stripe webhook, App Store notification, Google RTDN) is stored before it is
-- processed, claimed atomically, and marked processed in the same transaction as its effect.

create table provider_events (
    id uuid primary key default gen_random_uuid(),
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    -- Stripe event id, App Store notificationUUID, Pub/Sub message id.
    event_id text not null check (length(event_id) between 1 and 200),
    event_type text not null check (length(event_type) between 1 and 200),
    status text not null check (status in ('processing', 'processed', 'failed')),
    -- Incremented by every claim; the claim's number fences a worker whose lease was taken over.
    attempts integer not null check (attempts >= 1),
    payload jsonb not null,
    error text check (length(error) <= 2000),
    received_at timestamptz not null default now(),
    claimed_until timestamptz,
    processed_at timestamptz,
    duration_ms integer,
    unique (provider, event_id)
);
-- Finds claims left by crashed workers and failures to retry.
create index provider_events_unfinished_idx on provider_events (claimed_until) where status <> 'processed';
