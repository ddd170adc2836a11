-- name: CreateUser :one
insert into users (email, password_hash, name)
values (@email, @password_hash, @name)
returning id;

-- name: GetCredentialsByEmail :one
select id, password_hash from users where lower(email) = lower(@email);

-- name: GetPasswordHash :one
select password_hash from users where id = @user_id;

-- name: UpdatePasswordHash :exec
update users set password_hash = @password_hash where id = @user_id;

-- name: GetSessionUser :one
-- The one query behind every authenticated request: the user, provided the session is still live.
select u.id, u.email, u.name, u.avatar_url, u.is_creator, u.creator_tier, u.onboarding_completed,
       u.default_serving_size, u.meal_prep_enabled, u.default_meal_prep_count, u.kitchen_appliances,
       u.dietary_preferences, u.cuisine_preferences, u.cooking_skill_level, u.created_at
from sessions s
join users u on u.id = s.user_id
where s.id = @session_id and s.user_id = @user_id and s.revoked_at is null;

-- name: CreateSession :one
insert into sessions (user_id) values (@user_id) returning id;

-- name: RevokeSession :execrows
update sessions set revoked_at = now(), revoked_reason = @reason
where id = @session_id and user_id = @user_id and revoked_at is null;

-- name: InsertRefreshToken :exec
insert into refresh_tokens (user_id, session_id, token_hash, expires_at)
values (@user_id, @session_id, @token_hash, @expires_at);

-- name: SpendRefreshToken :one
-- Atomic rotation: only one caller can spend a token; a live session is required.
update refresh_tokens t set spent_at = now()
from sessions s
where t.token_hash = @token_hash and t.spent_at is null and t.expires_at > now()
  and s.id = t.session_id and s.revoked_at is null
returning t.user_id, t.session_id;

-- name: GetRefreshToken :one
select user_id, session_id, spent_at, expires_at from refresh_tokens where token_hash = @token_hash;

-- name: GetSessionForRefreshToken :one
select session_id from refresh_tokens where token_hash = @token_hash and user_id = @user_id;

-- name: LinkReferral :execrows
insert into referral_attributions (user_id, referral_code) values (@user_id, @referral_code)
on conflict (user_id) do nothing;

-- name: DeleteUser :execrows
delete from users where id = @user_id;

-- name: ListLiveSessionIds :many
select id from sessions where user_id = @user_id and revoked_at is null;

-- name: PurgeExpiredRefreshTokens :execrows
delete from refresh_tokens where expires_at < @before;

-- name: ExportSessions :many
select id, created_at, revoked_at, revoked_reason from sessions where user_id = @user_id order by created_at;

-- name: ExportReferral :one
select referral_code, linked_at from referral_attributions where user_id = @user_id;
