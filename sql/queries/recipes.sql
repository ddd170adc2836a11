-- name: UpsertCatalogRecipe :one
insert into recipes (
    slug, title, description, cuisine, meal_type, difficulty, prep_minutes, cook_minutes, servings, dietary_tags,
    ingredients, steps, image_url
) values (
    @slug, @title, @description, @cuisine, @meal_type, @difficulty, @prep_minutes, @cook_minutes, @servings,
    @dietary_tags, @ingredients, @steps, sqlc.narg(image_url)
)
on conflict (slug) do update set
    title = excluded.title, description = excluded.description, cuisine = excluded.cuisine,
    meal_type = excluded.meal_type, difficulty = excluded.difficulty, prep_minutes = excluded.prep_minutes,
    cook_minutes = excluded.cook_minutes, servings = excluded.servings, dietary_tags = excluded.dietary_tags,
    ingredients = excluded.ingredients, steps = excluded.steps, image_url = excluded.image_url
returning id;

-- name: UnlinkRecipeIngredients :exec
delete from recipe_ingredients where recipe_id = @recipe_id;

-- name: LinkRecipeIngredients :exec
-- Links the recipe to the table ingredients its lines name (by name or alias), after UnlinkRecipeIngredients,
-- and counts its non-staple ones.
with linked as (
    insert into recipe_ingredients (recipe_id, ingredient_id, staple)
    select distinct @recipe_id::uuid, i.id, i.pantry_staple
    from ingredients i
    where i.name = any(@names::text[]) or i.aliases && @names::text[]
    returning ingredient_id, staple
)
update recipes set key_ingredients = (select count(*) from linked where not linked.staple)
where recipes.id = @recipe_id::uuid;

-- name: IngredientIdsByName :many
-- The table ingredients that the given names (or aliases) denote.
select id, name, aliases
from ingredients
where name = any(@names::text[]) or aliases && @names::text[];

-- name: CatalogVersion :one
-- Moves on every change to the catalog or its links (migration 0014); the ranking index is rebuilt when it does.
select version from catalog_version;

-- name: CatalogForRanking :many
-- Every catalog recipe with a non-staple ingredient, in title order (ranking's last tie-break), with its
-- non-staple ingredient ids, for the in-memory ranking index (app/recipes/ranking.py).
select r.id, r.meal_type, r.dietary_tags, r.key_ingredients,
       array_agg(ri.ingredient_id)::integer[] as key_ingredient_ids
from recipes r
join recipe_ingredients ri on ri.recipe_id = r.id and not ri.staple
where r.user_id is null
group by r.id
order by r.title, r.id;

-- name: GetRecipe :one
-- A catalog recipe, or the caller's own, with whether the caller has it among their favourites.
select r.id, r.user_id, r.slug, r.title, r.description, r.cuisine, r.meal_type, r.difficulty, r.prep_minutes,
       r.cook_minutes, r.servings, r.dietary_tags, r.ingredients, r.steps, r.image_url, r.created_at,
       exists (select 1 from favorite_recipes f where f.user_id = @user_id and f.recipe_id = r.id) as is_favorited
from recipes r
where r.id = @id and (r.user_id is null or r.user_id = @user_id);

-- name: GetRecipes :many
select id, user_id, slug, title, description, cuisine, meal_type, difficulty, prep_minutes, cook_minutes, servings,
       dietary_tags, ingredients, steps, image_url, created_at
from recipes
where id = any(@ids::uuid[]) and (user_id is null or user_id = @user_id);

-- name: NutritionFacts :many
-- The table ingredients the given names (or aliases) denote, with what nutrition needs.
select name, aliases, calories, protein_g, carbs_g, fat_g, fiber_g, sugar_g, sodium_mg, grams_per_piece,
       grams_per_cup, grams_per_tbsp, grams_per_tsp, ml_density
from ingredients
where name = any(@names::text[]) or aliases && @names::text[];
