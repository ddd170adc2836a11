-- Analytics: the events the app reports (POST /api/v1/analytics/track), one row each, kept
-- ANALYTICS_RETENTION_DAYS (the purge-expired job) and erased with the account. They record what the app says
-- happened; nothing reads them to award XP or decide entitlements.

create table analytics_events (
    id bigint generated always as identity primary key,
    user_id uuid not null references users (id) on delete cascade,
    event_type text not null check (event_type ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
    -- JSON objects, at most 4 KB each as compact JSON, depth 5 and 50 keys (checked by the service).
    event_data jsonb not null default '{}' check (jsonb_typeof(event_data) = 'object'),
    metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
    received_at timestamptz not null default now()
);
-- The dashboard counts one user's events of a period by type from this index alone; the export reads the newest.
create index analytics_events_user_received_idx on analytics_events (user_id, received_at, event_type);
-- The retention purge deletes by age across all users.
create index analytics_events_received_idx on analytics_events (received_at);
