-- name: GetXpAction :one
select action, amount, daily_cap, claimable from xp_actions where action = @action;

-- name: LockXpTotal :one
-- Creates the user's total if needed and locks it until the transaction ends: one user's awards queue here, so
-- the cap counted next cannot be passed by concurrent requests.
insert into xp_totals (user_id) values (@user_id)
on conflict (user_id) do update set user_id = excluded.user_id
returning total_xp;

-- name: InsertXpAward :one
-- The award at the amount of xp_actions, unless this action and key already earned XP or the action's daily cap
-- (awards since @day_start) is reached: then no row.
insert into xp_ledger (user_id, action, amount, dedup_key)
select @user_id, a.action, a.amount, @dedup_key
from xp_actions a
where a.action = @action
  and (a.daily_cap is null or (
      select count(*) from xp_ledger l
      where l.user_id = @user_id and l.action = a.action and l.awarded_at >= @day_start
  ) < a.daily_cap)
on conflict (user_id, action, dedup_key) do nothing
returning amount;

-- name: XpAwardExists :one
select exists (
    select from xp_ledger where user_id = @user_id and action = @action and dedup_key = @dedup_key
) as awarded;

-- name: AddToXpTotal :one
update xp_totals set total_xp = total_xp + @amount, updated_at = now()
where user_id = @user_id
returning total_xp;

-- name: GetXpProgress :one
-- The caller's total XP and the counts the progress shows.
select coalesce((select t.total_xp from xp_totals t where t.user_id = @user_id), 0)::bigint as total_xp,
       (select count(*) from recipes r where r.user_id = @user_id)::bigint as recipes_created,
       (select count(*) from scans s where s.user_id = @user_id)::bigint as scans_completed;

-- name: ExportXpLedger :many
-- The account's awards (data export), newest first.
select action, amount, dedup_key, awarded_at
from xp_ledger
where user_id = @user_id
order by awarded_at desc, id desc
limit 100000;

-- name: LockStreak :one
-- Creates the user's streak if needed and locks it until the transaction ends, with the user's time zone.
insert into streaks (user_id) values (@user_id)
on conflict (user_id) do update set user_id = excluded.user_id
returning current_streak, longest_streak, started_on, last_day, freeze_tokens,
          (select u.time_zone from users u where u.id = @user_id) as time_zone;

-- name: SaveStreak :exec
update streaks
set current_streak = @current_streak, longest_streak = @longest_streak, started_on = sqlc.narg(started_on),
    last_day = sqlc.narg(last_day), freeze_tokens = @freeze_tokens,
    freezes_used = freezes_used + @freezes_spent, updated_at = now()
where user_id = @user_id;

-- name: ListStreakMilestones :many
select days, action, freeze_tokens from streak_milestones order by days;

-- name: GetStreak :one
-- The stored streak (as of its last update) and the user's time zone, for reading without a lock.
select coalesce(s.current_streak, 0)::integer as current_streak, coalesce(s.longest_streak, 0)::integer as longest_streak,
       s.started_on, s.last_day, coalesce(s.freeze_tokens, 0)::integer as freeze_tokens, u.time_zone
from users u
left join streaks s on s.user_id = u.id
where u.id = @user_id;
