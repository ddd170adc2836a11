-- Which version (sha256 of the shipped file) of each reference data set is loaded: `cookcam migrate` (and so
-- every `cookcam serve`) loads the ingredient table and the recipe catalog when their files changed, in every
-- environment, and does nothing otherwise.
create table reference_data (
    name text primary key check (name in ('ingredients', 'recipes')),
    sha256 text not null check (length(sha256) = 64),
    loaded_at timestamptz not null default now()
);
