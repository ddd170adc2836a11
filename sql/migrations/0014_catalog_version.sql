-- Ranking by overlap runs on an in-memory index of the catalog in each worker (app/recipes/ranking.py); the
-- index is rebuilt when this counter moves. Triggers move it on any change to catalog recipes or to ingredient
-- links, whoever makes it (the loader, an operator, a bench), so no writer has to remember to.

create table catalog_version (
    singleton boolean primary key default true check (singleton),
    version bigint not null default 0
);
insert into catalog_version default values;

create function bump_catalog_version() returns trigger language plpgsql as $$
begin
    update catalog_version set version = version + 1;
    return null;
end $$;

-- A statement trigger fires once per statement even when no row changed: these check the transition tables so
-- that a user's own recipes (user_id set, never linked) leave the index alone.
create function bump_catalog_version_if_catalog() returns trigger language plpgsql as $$
begin
    if exists (select from changed where user_id is null) then
        update catalog_version set version = version + 1;
    end if;
    return null;
end $$;

create function bump_catalog_version_if_any() returns trigger language plpgsql as $$
begin
    if exists (select from changed) then
        update catalog_version set version = version + 1;
    end if;
    return null;
end $$;

create trigger recipes_inserted_catalog after insert on recipes
    referencing new table as changed for each statement execute function bump_catalog_version_if_catalog();
create trigger recipes_updated_catalog after update on recipes
    referencing new table as changed for each statement execute function bump_catalog_version_if_catalog();
create trigger recipes_deleted_catalog after delete on recipes
    referencing old table as changed for each statement execute function bump_catalog_version_if_catalog();

create trigger recipe_links_inserted after insert on recipe_ingredients
    referencing new table as changed for each statement execute function bump_catalog_version_if_any();
create trigger recipe_links_updated after update on recipe_ingredients
    referencing new table as changed for each statement execute function bump_catalog_version_if_any();
create trigger recipe_links_deleted after delete on recipe_ingredients
    referencing old table as changed for each statement execute function bump_catalog_version_if_any();
create trigger recipe_links_truncated after truncate on recipe_ingredients
    for each statement execute function bump_catalog_version();
create trigger recipes_truncated after truncate on recipes
    for each statement execute function bump_catalog_version();
