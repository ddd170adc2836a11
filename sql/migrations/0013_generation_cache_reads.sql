-- Cache hits no longer write: counting them in the row made every hit for a popular key queue on that row's lock
-- (measured: 905 hits/s, p99 85 ms). Hits are counted in cookcam_generation_cache_total instead.
alter table generation_cache drop column hits;

-- Ranking by overlap reads only non-staple links: this partial index serves it without visiting the heap for
-- `staple` (docs/benchmarks.md, suggest-100k).
create index recipe_ingredients_key_idx on recipe_ingredients (ingredient_id, recipe_id) where not staple;
