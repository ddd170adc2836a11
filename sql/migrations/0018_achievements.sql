-- Achievements: a seeded catalogue of thresholds on what a user has done, unlocked by the server in the
-- transaction of the action that reaches them, each once per user and worth achievement_unlocked XP.

insert into xp_actions (action, amount, daily_cap, claimable, description) values
    ('achievement_unlocked', 50, null, false, 'An achievement unlocked (once per achievement)');

-- Each recipe_cooked claim also logs the recipe and day, so achievements can count cooking and cuisines.
create table cooking_log (
    user_id uuid not null references users (id) on delete cascade,
    recipe_id uuid not null references recipes (id) on delete cascade,
    cooked_on date not null,
    primary key (user_id, recipe_id, cooked_on)
);

create table achievements (
    slug text primary key check (slug ~ '^[a-z][a-z0-9_]{1,39}$'),
    name text not null,
    description text not null,
    -- What is counted (app/gamification/achievements.py computes each for a user):
    --   scans: scans stored; recipes_made: sessions written out (recipe_generated awards); recipes_cooked: cooking
    --   days per recipe; cuisines_cooked: distinct cuisines cooked; streak_days: the longest streak; ratings.
    metric text not null check (metric in ('scans', 'recipes_made', 'recipes_cooked', 'cuisines_cooked',
                                           'streak_days', 'ratings')),
    threshold integer not null check (threshold > 0),
    position integer not null unique,
    unique (metric, threshold)
);

insert into achievements (slug, name, description, metric, threshold, position) values
    ('first_scan', 'First look', 'Scan your ingredients for the first time', 'scans', 1, 10),
    ('scans_10', 'Sharp eye', 'Scan your ingredients 10 times', 'scans', 10, 11),
    ('scans_50', 'Pantry detective', 'Scan your ingredients 50 times', 'scans', 50, 12),
    ('scans_100', 'Inventory master', 'Scan your ingredients 100 times', 'scans', 100, 13),
    ('first_recipe', 'Idea to plate', 'Get your first full recipe', 'recipes_made', 1, 20),
    ('recipes_made_10', 'Recipe collector', 'Get 10 full recipes', 'recipes_made', 10, 21),
    ('recipes_made_50', 'Cookbook author', 'Get 50 full recipes', 'recipes_made', 50, 22),
    ('first_cook', 'First dish', 'Cook a recipe', 'recipes_cooked', 1, 30),
    ('cooked_10', 'Home cook', 'Cook 10 times', 'recipes_cooked', 10, 31),
    ('cooked_50', 'Kitchen regular', 'Cook 50 times', 'recipes_cooked', 50, 32),
    ('cooked_100', 'Chef at home', 'Cook 100 times', 'recipes_cooked', 100, 33),
    ('cuisines_3', 'Curious palate', 'Cook recipes from 3 cuisines', 'cuisines_cooked', 3, 40),
    ('cuisines_5', 'Globetrotter', 'Cook recipes from 5 cuisines', 'cuisines_cooked', 5, 41),
    ('cuisines_10', 'World kitchen', 'Cook recipes from 10 cuisines', 'cuisines_cooked', 10, 42),
    ('streak_3_days', 'On a roll', 'Cook 3 days in a row', 'streak_days', 3, 50),
    ('streak_7_days', 'Week of flavour', 'Cook 7 days in a row', 'streak_days', 7, 51),
    ('streak_30_days', 'Habit formed', 'Cook 30 days in a row', 'streak_days', 30, 52),
    ('streak_100_days', 'Unstoppable', 'Cook 100 days in a row', 'streak_days', 100, 53),
    ('first_rating', 'Critic', 'Rate a recipe', 'ratings', 1, 60),
    ('ratings_10', 'Trusted taster', 'Rate 10 recipes', 'ratings', 10, 61),
    ('ratings_50', 'Food critic', 'Rate 50 recipes', 'ratings', 50, 62);

create table user_achievements (
    user_id uuid not null references users (id) on delete cascade,
    slug text not null references achievements (slug),
    unlocked_at timestamptz not null default now(),
    primary key (user_id, slug)
);
