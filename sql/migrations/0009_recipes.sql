-- Recipes: the built-in catalog (user_id null) and, later, recipes generated for a user (user_id set). Ingredient
-- lines keep the recipe's own wording; `ingredient_id` links those that name an ingredient of the table, which is
-- what ranking by overlap and nutrition use.

create table recipes (
    id uuid primary key default gen_random_uuid(),
    -- Null for catalog recipes (shared, read-only); set for a user's own recipes.
    user_id uuid references users (id) on delete cascade,
    slug text unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title text not null check (length(title) between 1 and 200),
    description text check (length(description) <= 2000),
    cuisine text check (length(cuisine) <= 40),
    meal_type text check (meal_type in ('breakfast', 'lunch', 'dinner', 'snack', 'dessert')),
    difficulty text check (difficulty in ('easy', 'medium', 'hard')),
    prep_minutes integer check (prep_minutes between 0 and 10000),
    cook_minutes integer check (cook_minutes between 0 and 10000),
    servings integer check (servings between 1 and 50),
    dietary_tags text[] not null default '{}',
    -- Ingredient lines and steps as the recipe states them: [{name, quantity, unit, note}], [text].
    ingredients jsonb not null check (jsonb_typeof(ingredients) = 'array'),
    steps jsonb not null check (jsonb_typeof(steps) = 'array'),
    created_at timestamptz not null default now(),
    check (user_id is not null or slug is not null)
);
create index recipes_user_idx on recipes (user_id, created_at desc) where user_id is not null;

-- One row per distinct table ingredient a recipe uses; `staple` copies the ingredient's pantry flag, so ranking
-- can count staples separately without a join.
create table recipe_ingredients (
    recipe_id uuid not null references recipes (id) on delete cascade,
    ingredient_id integer not null references ingredients (id),
    staple boolean not null,
    primary key (recipe_id, ingredient_id)
);
-- Ranking starts from the user's ingredients: recipe ids by ingredient.
create index recipe_ingredients_ingredient_idx on recipe_ingredients (ingredient_id, recipe_id);
-- Each recipe's count of non-staple ingredients, kept with the recipe for the missing-ingredient count.
alter table recipes add column key_ingredients integer not null default 0 check (key_ingredients >= 0);
