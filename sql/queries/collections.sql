-- name: SaveRecipe :one
-- Saves while under the limit; no row when the limit is reached (or it was saved already: see IsSaved).
insert into saved_recipes (user_id, recipe_id)
select @user_id, @recipe_id
where (select count(*) from saved_recipes where user_id = @user_id) < @saved_limit::integer
on conflict (user_id, recipe_id) do nothing
returning recipe_id;

-- name: IsSaved :one
select exists (select 1 from saved_recipes where user_id = @user_id and recipe_id = @recipe_id);

-- name: UnsaveRecipe :exec
delete from saved_recipes where user_id = @user_id and recipe_id = @recipe_id;

-- name: CountSaved :one
select count(*)::integer from saved_recipes where user_id = @user_id;

-- name: FavoriteRecipe :exec
insert into favorite_recipes (user_id, recipe_id) values (@user_id, @recipe_id) on conflict do nothing;

-- name: UnfavoriteRecipe :exec
delete from favorite_recipes where user_id = @user_id and recipe_id = @recipe_id;

-- name: IsFavorite :one
select exists (select 1 from favorite_recipes where user_id = @user_id and recipe_id = @recipe_id);

-- name: RateRecipe :one
with rated as (
    insert into recipe_ratings (user_id, recipe_id, rating) values (@user_id, @recipe_id, @rating)
    on conflict (user_id, recipe_id) do update set rating = excluded.rating, updated_at = now()
    returning recipe_id
)
-- The statement sees the ratings as they were before it: the others' ratings, to which the caller adds theirs.
select count(*)::integer as others_count, coalesce(sum(rr.rating), 0)::integer as others_sum
from recipe_ratings rr
where rr.recipe_id = @recipe_id and rr.user_id <> @user_id;

-- name: ListSavedRecipes :many
select r.id, r.user_id, r.slug, r.title, r.description, r.cuisine, r.meal_type, r.difficulty, r.prep_minutes,
       r.cook_minutes, r.servings, r.dietary_tags, r.ingredients, r.steps, r.image_url, r.created_at,
       exists (select 1 from favorite_recipes f where f.user_id = s.user_id and f.recipe_id = r.id) as is_favorited
from saved_recipes s
join recipes r on r.id = s.recipe_id
where s.user_id = @user_id
order by s.created_at desc, r.id
limit @max_rows offset @skip;

-- name: ListOwnRecipes :many
select r.id, r.user_id, r.slug, r.title, r.description, r.cuisine, r.meal_type, r.difficulty, r.prep_minutes,
       r.cook_minutes, r.servings, r.dietary_tags, r.ingredients, r.steps, r.image_url, r.created_at,
       exists (select 1 from favorite_recipes f where f.user_id = r.user_id and f.recipe_id = r.id) as is_favorited
from recipes r
where r.user_id = @user_id
order by r.created_at desc, r.id
limit @max_rows offset @skip;

-- name: DeleteOwnRecipe :execrows
delete from recipes where id = @id and user_id = @user_id;

-- name: ExportRecipeActivity :many
-- Every save, favourite and rating of the account (data export).
select 'saved'::text as kind, s.recipe_id, null::smallint as rating, s.created_at as at
from saved_recipes s where s.user_id = @user_id
union all
select 'favorite', f.recipe_id, null, f.created_at from favorite_recipes f where f.user_id = @user_id
union all
select 'rating', r.recipe_id, r.rating, r.updated_at from recipe_ratings r where r.user_id = @user_id
order by at desc
limit 100000;
