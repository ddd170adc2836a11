-- name: UpdateProfile :one
-- row: User
-- nullable: creator_tier
-- Absent fields (null parameters) keep their stored value.
update users set
    name = coalesce(sqlc.narg(name), name),
    avatar_url = coalesce(sqlc.narg(avatar_url), avatar_url),
    onboarding_completed = coalesce(sqlc.narg(onboarding_completed), onboarding_completed),
    default_serving_size = coalesce(sqlc.narg(default_serving_size), default_serving_size),
    meal_prep_enabled = coalesce(sqlc.narg(meal_prep_enabled), meal_prep_enabled),
    default_meal_prep_count = coalesce(sqlc.narg(default_meal_prep_count), default_meal_prep_count),
    kitchen_appliances = coalesce(sqlc.narg(kitchen_appliances)::text[], kitchen_appliances),
    dietary_preferences = coalesce(sqlc.narg(dietary_preferences)::text[], dietary_preferences),
    cuisine_preferences = coalesce(sqlc.narg(cuisine_preferences)::text[], cuisine_preferences),
    cooking_skill_level = coalesce(sqlc.narg(cooking_skill_level), cooking_skill_level),
    time_zone = coalesce(sqlc.narg(time_zone), time_zone),
    updated_at = now()
where id = @user_id
returning id, email, name, avatar_url, cookcam_is_creator(creator_until) as is_creator,
          (case when cookcam_is_creator(creator_until) then cookcam_creator_level(id) end)::integer as creator_tier, onboarding_completed,
          default_serving_size, meal_prep_enabled, default_meal_prep_count, kitchen_appliances,
          dietary_preferences, cuisine_preferences, cooking_skill_level, created_at, time_zone,
          email_verified;

-- name: UserExists :one
select exists (select 1 from users where id = @id);

-- name: LockUser :one
-- First statement of a limited write (a save, an affiliate link): serialises one user's such writes, so a count
-- that follows sees every committed one and a limit cannot be passed by concurrent requests.
select id from users where id = @user_id for update;
