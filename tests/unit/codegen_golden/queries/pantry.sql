-- name: PantryCooks :many
-- row: CookCard
-- The same columns however the SQL spells them: a cast to the type a column already has changes nothing.
select c.id, c.email::text as email, c.nickname, c.skill, c.badges
from cooks c
where exists (select 1 from pantry.items i where i.cook_id = c.id and i.name = @name)
order by c.email;

-- name: GetPantryLine :one
-- row: PantryLine
select id, name, quantity, unit from pantry.items where id = @id;

-- name: RenamePantryLine :one
-- row: PantryLine
update pantry.items set name = @name where id = @id returning id, name, quantity, unit;

-- name: CountPantryItems :one
select count(*) from pantry.items where cook_id = @cook_id;
