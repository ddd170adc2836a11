-- name: ClaimGeneration :one
-- Claims the key for this caller to generate: a new key, an expired answer, or a pending claim whose lease ran
-- out. No row: a live answer exists (read it) or someone else is generating it (wait).
insert into generation_cache (cache_key, kind, status, claimed_until)
values (@cache_key, @kind, 'pending', now() + make_interval(secs => @lease_seconds::double precision))
on conflict (cache_key) do update set
    status = 'pending', value = null, claimed_until = excluded.claimed_until, expires_at = null
where (generation_cache.status = 'ready' and generation_cache.expires_at <= now())
   or (generation_cache.status = 'pending' and generation_cache.claimed_until < now())
returning cache_key;

-- name: ReadGeneration :one
-- A ready, unexpired answer (read only: hits are counted in metrics, not in the row).
select value, model from generation_cache
where cache_key = @cache_key and status = 'ready' and expires_at > now();

-- name: OfferCachedGeneration :one
-- A cache hit offered as a new session and counted as one generation of the month, in one statement
-- (cookcam_offer_cached_generation, migration 0055): value null = a miss, session_id null = the limit is used up;
-- either way nothing was written. monthly_limit is the limit that applies.
select monthly_limit, value, session_id
from cookcam_offer_cached_generation(
    @user_id, @cache_key, @fair_use::integer, @metric, @period_start, @request);

-- name: StoreGeneration :exec
update generation_cache
set status = 'ready', value = @answer, model = @model, claimed_until = null,
    expires_at = now() + make_interval(secs => @ttl_seconds::double precision)
where cache_key = @cache_key;

-- name: ReleaseGeneration :exec
-- The generation failed: let the next request try (no negative caching).
delete from generation_cache where cache_key = @cache_key and status = 'pending';

-- name: CreateRecipeSession :one
insert into recipe_sessions (user_id, request, previews, source) values (@user_id, @request, @previews, @source)
returning id;

-- name: GetRecipeSession :one
-- Only the caller's own session.
select id, request, previews, source from recipe_sessions where id = @id and user_id = @user_id;

-- name: InsertUserRecipe :one
insert into recipes (
    user_id, title, description, cuisine, meal_type, difficulty, prep_minutes, cook_minutes, servings, dietary_tags,
    ingredients, steps, recipe_session_id, preview_id
) values (
    @user_id, @title, sqlc.narg(description), sqlc.narg(cuisine), sqlc.narg(meal_type), sqlc.narg(difficulty),
    sqlc.narg(prep_minutes), sqlc.narg(cook_minutes), sqlc.narg(servings), @dietary_tags, @ingredients, @steps,
    @recipe_session_id, @preview_id
)
returning id;

-- name: WrittenOutRecipe :one
-- The recipe generate-detailed already wrote out for this preview of the caller's session, if it is still kept.
select id from recipes
where recipe_session_id = @recipe_session_id and preview_id = @preview_id and user_id = @user_id;

-- name: CountOwnRecipes :one
select count(*) from recipes where user_id = @user_id;

-- name: PurgeExpiredGenerations :execrows
delete from generation_cache where status = 'ready' and expires_at <= @before;
