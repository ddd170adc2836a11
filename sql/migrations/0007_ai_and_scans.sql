-- AI usage accounting and ingredient scans.

-- Tokens and cost per user, day (UTC), task and model: one row updated by every completed AI call.
create table ai_usage (
    user_id uuid not null references users (id) on delete cascade,
    day date not null,
    task text not null check (task in ('scan', 'recipe')),
    model text not null check (length(model) between 1 and 100),
    calls integer not null check (calls >= 0),
    prompt_tokens bigint not null check (prompt_tokens >= 0),
    completion_tokens bigint not null check (completion_tokens >= 0),
    cost_microdollars bigint not null check (cost_microdollars >= 0),
    primary key (user_id, day, task, model)
);

create table scans (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    -- DetectedIngredient[] as the app sees it (normalised: names, one category enum, confidence 0..1, <= 20 items).
    detected_ingredients jsonb not null check (jsonb_typeof(detected_ingredients) = 'array'),
    confidence_score real not null check (confidence_score between 0 and 1),
    model text not null check (length(model) <= 100),
    -- The downscaled image, only when SCAN_IMAGE_RETENTION_DAYS > 0, and only until it expires.
    image bytea check (length(image) <= 2097152),
    image_content_type text check (image_content_type in ('image/jpeg', 'image/png', 'image/webp')),
    image_expires_at timestamptz,
    corrected_at timestamptz,
    created_at timestamptz not null default now(),
    check ((image is null) = (image_expires_at is null))
);
create index scans_user_created_idx on scans (user_id, created_at desc, id);
-- The purge job finds expired images.
create index scans_image_expiry_idx on scans (image_expires_at) where image is not null;
