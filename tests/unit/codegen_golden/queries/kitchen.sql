-- name: GetCook :one
-- Every mapped type, nullable and not; sqlc expands the star into one long line.
select * from cooks where id = @id;

-- name: GetCookEmail :one
select email from cooks where id = $1;

-- name: ListCookIds :many
select id from cooks order by created_at;

-- name: ListCooksBySkill :many
-- Named parameters three ways: @name, sqlc.arg(name), and the nullable sqlc.narg(name).
--
-- A second paragraph whose line is long enough that the generator has to wrap it to keep the docstring within the line length.
select id, email, skill, badges
from cooks
where skill = @skill
  and created_at > sqlc.arg(created_after)
  and (sqlc.narg(nickname)::text is null or nickname = sqlc.narg(nickname))
order by created_at
limit sqlc.arg('limit');

-- name: RenameCook :exec
update cooks set email = $2, "class" = $3 where id = $1;

-- name: DemoteCooks :execrows
update cooks set skill = 'beginner' where created_at < $1 and email <> $2 and email <> $3;

-- name: CookSummaries :many
select c.id, i.id, c.email as "record", i.quantity, i.unit, i."from"
from cooks c
left join pantry.items i on i.cook_id = c.id
where c.id = any(@ids::uuid[]);

-- name: CountCooksLike :one
select count(*) from cooks where email like $1::text || '%';

-- name: GetPasswordHash :one
select password_hash from cooks where email = $1;

-- name: AddPantryItems :copyfrom
insert into pantry.items (cook_id, name, quantity, unit, "from") values ($1, $2, $3, $4, $5);

-- name: TouchCook :one
update cooks set last_ip = $2, home_network = $3 where id = $1 returning id, last_ip, home_network;

-- name: QuotedText :one
-- Quotes and backslashes survive into the Python constant: "double", 'single', \backslash.
select 'it''s "quoted" \ text'::text as quote, now()::timestamptz as now;

-- name: GetCookCard :one
-- row: CookCard
-- A row that queries in two files share: declared once, in rows.py.
select id, email, nickname, skill, badges from cooks where id = @id;

-- name: ListCookCards :many
-- row: CookCard
select id, email, nickname, skill, badges from cooks order by email limit @max_rows;
