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
-- (awards that UTC day) is reached: then no row.
insert into xp_ledger (user_id, action, amount, dedup_key, awarded_at)
select @user_id, a.action, a.amount, @dedup_key, @awarded_at
from xp_actions a
where a.action = @action
  and (a.daily_cap is null or (
      select count(*) from xp_ledger l
      where l.user_id = @user_id and l.action = a.action
        and l.awarded_at >= @day_start and l.awarded_at < @day_end
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
       (select count(*) from scans s where s.user_id = @user_id)::bigint as scans_completed,
       (select count(*) from user_achievements a where a.user_id = @user_id)::bigint as achievements_earned;

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

-- name: LogCooking :exec
insert into cooking_log (user_id, recipe_id, cooked_on) values (@user_id, @recipe_id, @cooked_on)
on conflict do nothing;

-- name: AchievementMetrics :one
-- What achievements count, for one user (each an indexed count over that user's rows).
select (select count(*) from scans s where s.user_id = @user_id)::integer as scans,
       (select count(*) from xp_ledger l
        where l.user_id = @user_id and l.action = 'recipe_generated')::integer as recipes_made,
       (select count(*) from cooking_log c where c.user_id = @user_id)::integer as recipes_cooked,
       (select count(distinct r.cuisine) from cooking_log c join recipes r on r.id = c.recipe_id
        where c.user_id = @user_id and r.cuisine is not null)::integer as cuisines_cooked,
       coalesce((select k.longest_streak from streaks k where k.user_id = @user_id), 0)::integer as streak_days,
       (select count(*) from recipe_ratings g where g.user_id = @user_id)::integer as ratings;

-- name: UnlockAchievements :many
-- Unlocks every achievement whose threshold the user's metrics ({metric: value}) reach and that they do not
-- have yet.
insert into user_achievements (user_id, slug)
select @user_id, a.slug
from achievements a
join jsonb_each_text(@reached::jsonb) as m (metric, reached) on m.metric = a.metric
where a.threshold <= m.reached::integer
on conflict (user_id, slug) do nothing
returning slug;

-- name: ListAchievements :many
-- The catalogue with the user's unlock times (null: locked).
select a.slug, a.name, a.description, a.metric, a.threshold, u.unlocked_at
from achievements a
left join user_achievements u on u.slug = a.slug and u.user_id = @user_id
order by a.position;

-- name: ExportAchievements :many
select slug, unlocked_at from user_achievements where user_id = @user_id order by unlocked_at, slug;

-- name: ExportCookingLog :many
select recipe_id, cooked_on
from cooking_log
where user_id = @user_id
order by cooked_on desc, recipe_id
limit 100000;

-- name: GetXpTotal :one
select total_xp from xp_totals where user_id = @user_id;

-- name: AddToPeriodTotals :exec
-- An award's XP on the user's daily, weekly and monthly boards (period starts from app/gamification/periods.py).
insert into xp_period_totals (board, period_start, user_id, xp)
values ('daily', @day_start::date, @user_id, @amount::bigint),
       ('weekly', @week_start::date, @user_id, @amount::bigint),
       ('monthly', @month_start::date, @user_id, @amount::bigint)
on conflict (board, period_start, user_id) do update set xp = xp_period_totals.xp + excluded.xp;

-- name: PeriodLeaderboard :many
-- nullable: creator_tier
-- A page of a period board. Its keys come off the rank index first and only those rows are joined (a deep offset
-- skips index entries, not joined rows); users_above counts the users with more XP than its first row.
with page as (
    select k.user_id, k.xp from xp_period_totals k
    where k.board = @board and k.period_start = @period_start
    order by k.xp desc, k.user_id
    limit @max_rows offset @skip
)
select p.user_id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier, p.xp as period_xp, t.total_xp,
       (select coalesce(sum(c.users), 0) from xp_rank_counts c
        where c.board = @board and c.period_start = @period_start
          and c.xp > (select max(f.xp) from page f))::bigint as users_above
from page p
join users u on u.id = p.user_id
join xp_totals t on t.user_id = p.user_id
order by p.xp desc, p.user_id;

-- name: AllTimeLeaderboard :many
-- nullable: creator_tier
with page as (
    select k.user_id, k.total_xp from xp_totals k
    where k.total_xp > 0
    order by k.total_xp desc, k.user_id
    limit @max_rows offset @skip
)
select p.user_id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier, p.total_xp as period_xp, p.total_xp,
       (select coalesce(sum(c.users), 0) from xp_rank_counts c
        where c.board = 'allTime' and c.period_start = '-infinity'
          and c.xp > (select max(f.total_xp) from page f))::bigint as users_above
from page p
join users u on u.id = p.user_id
order by p.total_xp desc, p.user_id;

-- name: PeriodCallerEntry :one
-- nullable: creator_tier
-- The caller's entry on a period board: rank is 1 + the users with more XP, summed from the rank counts.
select p.xp as period_xp, t.total_xp, u.name, u.avatar_url,
       cookcam_is_creator(u.creator_until) as is_creator, (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       (1 + (select coalesce(sum(c.users), 0) from xp_rank_counts c
             where c.board = p.board and c.period_start = p.period_start and c.xp > p.xp))::bigint as rank
from xp_period_totals p
join xp_totals t on t.user_id = p.user_id
join users u on u.id = p.user_id
where p.board = @board and p.period_start = @period_start and p.user_id = @user_id;

-- name: AllTimeCallerEntry :one
-- nullable: creator_tier
select t.total_xp as period_xp, t.total_xp, u.name, u.avatar_url,
       cookcam_is_creator(u.creator_until) as is_creator, (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       (1 + (select coalesce(sum(c.users), 0) from xp_rank_counts c
             where c.board = 'allTime' and c.period_start = '-infinity' and c.xp > t.total_xp))::bigint as rank
from xp_totals t
join users u on u.id = t.user_id
where t.user_id = @user_id and t.total_xp > 0;

-- name: FoldRankCounts :one
-- Adds the changes the boards' triggers appended into one folded row per board, period and XP value. Changes
-- appended meanwhile are not in this statement's snapshot and wait for the next fold.
with appended as (
    delete from xp_rank_counts where not folded
    returning board, period_start, xp, users
), merged as (
    insert into xp_rank_counts as c (board, period_start, xp, users, folded)
    select board, period_start, xp, sum(users), true from appended
    group by board, period_start, xp
    on conflict (board, period_start, xp) where folded do update set users = c.users + excluded.users
    returning 1
)
select (select count(*) from appended)::bigint as appended, (select count(*) from merged)::bigint as folded;

-- name: DropEmptyRankCounts :execrows
-- XP values no user holds any longer.
delete from xp_rank_counts where folded and users = 0;

-- name: RecipeVisibleTo :one
-- A claim's recipe must be one the caller can see: a catalog recipe or their own (as GetRecipe reads them).
select exists (select from recipes where id = @recipe_id and (user_id is null or user_id = @user_id))::boolean;
