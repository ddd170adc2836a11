-- name: DatabaseNow :one
select now()::timestamptz as now;
