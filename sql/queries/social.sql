-- name: GetPublicProfile :one
-- nullable: creator_tier
-- Public fields only (never email, preferences, time zone or subscription), the follow counts, and whether the
-- caller follows this user.
select u.id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier, u.created_at,
       coalesce(t.total_xp, 0)::bigint as total_xp,
       (select count(*) from follows f where f.followee_id = u.id)::bigint as followers_count,
       (select count(*) from follows f where f.follower_id = u.id)::bigint as following_count,
       exists (
           select from follows f where f.follower_id = @caller_id and f.followee_id = u.id
       ) as is_following
from users u
left join xp_totals t on t.user_id = u.id
where u.id = @user_id;

-- name: SearchUsersByPrefix :many
-- nullable: creator_tier
-- Names starting with the query (one or two characters), case-insensitively, in code-point order of the lower-cased
-- name (the exact name first), then id: users_name_prefix_idx finds them in that order, so a page reads only its
-- rows. @pattern is @query with LIKE's wildcards escaped (\%, \_, \\), so they match literally.
select u.id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       coalesce((select t.total_xp from xp_totals t where t.user_id = u.id), 0)::bigint as total_xp,
       exists (
           select from follows f where f.follower_id = @caller_id and f.followee_id = u.id
       ) as is_following
from users u
where lower(u.name) collate "C" like lower(@pattern::text) || '%' escape '\'
order by lower(u.name) collate "C", u.id
limit @max_rows offset @skip;

-- name: SearchUsersBySubstring :many
-- nullable: creator_tier
-- Names containing the query (three characters or more), case-insensitively: users_name_grams_idx finds the names
-- holding every three-character piece of the query, LIKE keeps those that contain it. Names starting with the
-- query first (the exact name first of all), then names with a word starting with it, then the rest; each in
-- code-point order of the lower-cased name, then id. @pattern is @query with LIKE's wildcards escaped (\%, \_, \\),
-- so they match literally. XP and follows are read for the page's rows only (after the sort and limit).
select u.id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       coalesce((select t.total_xp from xp_totals t where t.user_id = u.id), 0)::bigint as total_xp,
       exists (
           select from follows f where f.follower_id = @caller_id and f.followee_id = u.id
       ) as is_following
from users u
where cookcam_name_grams(lower(u.name)) @> cookcam_name_grams(lower(@query::text))
  and lower(u.name) like '%' || lower(@pattern::text) || '%' escape '\'
order by case
             when lower(u.name) like lower(@pattern::text) || '%' escape '\' then 0
             when lower(u.name) like '% ' || lower(@pattern::text) || '%' escape '\' then 1
             else 2
         end,
         lower(u.name) collate "C", u.id
limit @max_rows offset @skip;

-- name: LockFollower :one
-- First statement of a follow change: locks the follower's row (FOR NO KEY UPDATE, so rows referencing the user
-- can still be inserted meanwhile) to serialise one account's follow changes: the limit counted later holds under
-- concurrency, and concurrent toggles apply one after the other. No row: the account is gone.
select id from users where id = @follower_id for no key update;

-- name: GetFollowState :one
-- Read after LockFollower, in a statement of its own: its snapshot then includes the follow changes committed
-- while this one waited for the lock (a subquery of the locking statement would not see them).
select exists (select from users o where o.id = @followee_id) as followee_exists,
       exists (
           select from follows f where f.follower_id = @follower_id and f.followee_id = @followee_id
       ) as following;

-- name: FollowUser :one
-- Follows while the follower follows fewer than @max_following accounts; no row at the limit (or when the pair
-- exists already: the caller checked that under the lock above).
insert into follows (follower_id, followee_id)
select @follower_id, @followee_id
where (select count(*) from follows f where f.follower_id = @follower_id) < @max_following::integer
on conflict (follower_id, followee_id) do nothing
returning created_at;

-- name: UnfollowUser :execrows
delete from follows where follower_id = @follower_id and followee_id = @followee_id;

-- name: CountFollowers :one
select count(*)::bigint from follows where followee_id = @followee_id;

-- name: ListFollowers :many
-- nullable: creator_tier
-- Who follows @user_id, newest first (follows_followee_idx), with whether the caller follows each.
select u.id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       coalesce((select t.total_xp from xp_totals t where t.user_id = u.id), 0)::bigint as total_xp,
       exists (
           select from follows m where m.follower_id = @caller_id and m.followee_id = u.id
       ) as is_following,
       f.created_at as followed_at
from follows f
join users u on u.id = f.follower_id
where f.followee_id = @user_id
order by f.created_at desc, f.follower_id
limit @max_rows offset @skip;

-- name: ListFollowing :many
-- nullable: creator_tier
-- Whom @user_id follows, newest first (follows_follower_created_idx), with whether the caller follows each.
select u.id, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       coalesce((select t.total_xp from xp_totals t where t.user_id = u.id), 0)::bigint as total_xp,
       exists (
           select from follows m where m.follower_id = @caller_id and m.followee_id = u.id
       ) as is_following,
       f.created_at as followed_at
from follows f
join users u on u.id = f.followee_id
where f.follower_id = @user_id
order by f.created_at desc, f.followee_id
limit @max_rows offset @skip;

-- name: ExportFollows :many
-- The account's follows in both directions (data export): the other account's id and when.
select 'following'::text as direction, f.followee_id as user_id, f.created_at as at
from follows f where f.follower_id = @user_id
union all
select 'follower', f.follower_id, f.created_at from follows f where f.followee_id = @user_id
order by at desc
limit 100000;
