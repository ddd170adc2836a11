-- A user's saved and favourite recipes and ratings (catalog recipes or their own).

create table saved_recipes (
    user_id uuid not null references users (id) on delete cascade,
    recipe_id uuid not null references recipes (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (user_id, recipe_id)
);
create index saved_recipes_user_created_idx on saved_recipes (user_id, created_at desc);

create table favorite_recipes (
    user_id uuid not null references users (id) on delete cascade,
    recipe_id uuid not null references recipes (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (user_id, recipe_id)
);

create table recipe_ratings (
    user_id uuid not null references users (id) on delete cascade,
    recipe_id uuid not null references recipes (id) on delete cascade,
    rating smallint not null check (rating between 1 and 5),
    updated_at timestamptz not null default now(),
    primary key (user_id, recipe_id)
);
create index recipe_ratings_recipe_idx on recipe_ratings (recipe_id);
