-- name: UpsertIngredient :exec
-- Reference data from app/ingredients/data/ingredients.json, loaded by `cookcam seed`; keyed by name.
insert into ingredients (
    name, aliases, category, usda_description, fdc_id, calories, protein_g, carbs_g, fat_g, fiber_g, sugar_g,
    sodium_mg, grams_per_piece, grams_per_cup, grams_per_tbsp, grams_per_tsp, ml_density, pantry_staple
) values (
    @name, @aliases, @category, sqlc.narg(usda_description), sqlc.narg(fdc_id), @calories, @protein_g, @carbs_g,
    @fat_g, @fiber_g, @sugar_g, @sodium_mg, sqlc.narg(grams_per_piece), sqlc.narg(grams_per_cup),
    sqlc.narg(grams_per_tbsp), sqlc.narg(grams_per_tsp), sqlc.narg(ml_density), @pantry_staple
)
on conflict (name) do update set
    aliases = excluded.aliases, category = excluded.category, usda_description = excluded.usda_description,
    fdc_id = excluded.fdc_id, calories = excluded.calories, protein_g = excluded.protein_g,
    carbs_g = excluded.carbs_g, fat_g = excluded.fat_g, fiber_g = excluded.fiber_g, sugar_g = excluded.sugar_g,
    sodium_mg = excluded.sodium_mg, grams_per_piece = excluded.grams_per_piece,
    grams_per_cup = excluded.grams_per_cup, grams_per_tbsp = excluded.grams_per_tbsp,
    grams_per_tsp = excluded.grams_per_tsp, ml_density = excluded.ml_density,
    pantry_staple = excluded.pantry_staple, updated_at = now();

-- name: SearchIngredients :many
-- Typo-tolerant: the share of the query's trigrams an ingredient's name or aliases contain (the GIN index finds
-- candidates sharing any trigram); ties go to the shorter name, so exact words rank first.
with query as (select cookcam_trigrams(@query::text) as grams)
select i.id, i.name, i.category,
       (cardinality(array(select unnest(i.search_trigrams) intersect select unnest(query.grams)))::real
        / greatest(cardinality(query.grams), 1))::real as score
from ingredients i, query
where i.search_trigrams && query.grams
order by score desc, length(i.name), i.name
limit @max_rows;

-- name: ListIngredients :many
select id, name, category
from ingredients
where sqlc.narg(category)::text is null or category = sqlc.narg(category)::text
order by name
limit @max_rows offset @skip;

-- name: GetIngredient :one
select id, name, aliases, category, usda_description, fdc_id, calories, protein_g, carbs_g, fat_g, fiber_g, sugar_g,
       sodium_mg, grams_per_piece, grams_per_cup, grams_per_tbsp, grams_per_tsp, ml_density, pantry_staple
from ingredients
where id = @id;

-- name: IngredientCategories :many
select category, count(*)::integer as ingredients from ingredients group by category order by category;
