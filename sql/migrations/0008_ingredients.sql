-- Ingredients with per-100 g nutrients (USDA SR Legacy figures), household unit weights and typo-tolerant search.
--
-- Search uses trigrams computed by the SQL functions below and a GIN index on the array, not the pg_trgm
-- extension: the embedded PostgreSQL of the zero-config default (the pgserver wheel) ships no contrib modules.

-- pg_trgm's trigrams: lower-cased words of letters and digits, each padded with two spaces before and one after.
create function cookcam_trigrams(value text) returns text[]
language sql immutable strict parallel safe
as $$
    select coalesce(array_agg(distinct substr(padded, i, 3) order by substr(padded, i, 3)), '{}')
    from (
        select '  ' || word || ' ' as padded
        from regexp_split_to_table(lower(value), '[^a-z0-9]+') as words (word)
        where word <> ''
    ) as w,
    generate_series(1, length(padded) - 2) as i
$$;

-- The trigrams of a name and all its aliases.
create function cookcam_name_trigrams(name text, aliases text[]) returns text[]
language sql immutable strict parallel safe
as $$
    select cookcam_trigrams(name || ' ' || coalesce((select string_agg(a, ' ') from unnest(aliases) as a), ''))
$$;

create table ingredients (
    id integer primary key generated always as identity,
    name text not null unique check (name = lower(name) and length(name) between 1 and 80),
    aliases text[] not null default '{}',
    category text not null check (
        category in (
            'vegetable', 'fruit', 'protein', 'dairy', 'grain', 'legume', 'nut_seed', 'herb_spice', 'oil_fat',
            'condiment', 'baking', 'beverage', 'other'
        )
    ),
    usda_description text check (length(usda_description) <= 300),
    fdc_id integer,
    -- Per 100 g.
    calories real not null check (calories >= 0),
    protein_g real not null check (protein_g >= 0),
    carbs_g real not null check (carbs_g >= 0),
    fat_g real not null check (fat_g >= 0),
    fiber_g real not null check (fiber_g >= 0),
    sugar_g real not null check (sugar_g >= 0),
    sodium_mg real not null check (sodium_mg >= 0),
    -- Grams in one household unit where that unit is a natural measure; grams per millilitre for liquids.
    grams_per_piece real check (grams_per_piece > 0),
    grams_per_cup real check (grams_per_cup > 0),
    grams_per_tbsp real check (grams_per_tbsp > 0),
    grams_per_tsp real check (grams_per_tsp > 0),
    ml_density real check (ml_density > 0),
    pantry_staple boolean not null default false,
    search_trigrams text[] generated always as (cookcam_name_trigrams(name, aliases)) stored,
    updated_at timestamptz not null default now()
);
create index ingredients_trigrams_idx on ingredients using gin (search_trigrams);
create index ingredients_category_idx on ingredients (category, name);
