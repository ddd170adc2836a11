-- Where a generated recipe came from (docs/cooking.md "Previews → detailed"): generate-detailed writes each preview
-- of a session out once, and a repeat answers the recipe it wrote instead of storing another. The unique index is
-- the database's guarantee beside the service's check (made under the owner's row lock).
alter table recipes
    add column recipe_session_id uuid references recipe_sessions (id) on delete set null,
    add column preview_id text check (length(preview_id) between 1 and 64);
create unique index recipes_session_preview_idx on recipes (recipe_session_id, preview_id)
    where recipe_session_id is not null;
