-- name: CreateAccount :one
-- The user, their first session and its refresh token, in one statement (atomic, one round trip).
with new_user as (
    insert into users (email, password_hash, name)
    values (@email, @password_hash, @name)
    returning id
), new_session as (
    insert into sessions (user_id)
    select id from new_user
    returning id, user_id
), first_token as (
    insert into refresh_tokens (user_id, session_id, token_hash, expires_at)
    select user_id, id, @token_hash, @expires_at from new_session
    returning session_id
)
select new_session.user_id, new_session.id as session_id
from new_session join first_token on first_token.session_id = new_session.id;

-- name: CreateUser :one
insert into users (email, password_hash, name)
values (@email, @password_hash, @name)
returning id;

-- name: GetCredentialsByEmail :one
select id, password_hash from users where lower(email) = lower(@email);

-- name: GetPasswordHash :one
select password_hash from users where id = @user_id;

-- name: GetPasswordHolder :one
-- The account's password hash and the email that names its password-guess budget and hashing share.
select email, password_hash from users where id = @user_id;

-- name: GetSessionUser :one
-- row: User
-- nullable: creator_tier
-- The one query behind every authenticated request: the user, provided the session is still live.
select u.id, u.email, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier, u.onboarding_completed,
       u.default_serving_size, u.meal_prep_enabled, u.default_meal_prep_count, u.kitchen_appliances,
       u.dietary_preferences, u.cuisine_preferences, u.cooking_skill_level, u.created_at, u.time_zone,
       u.email_verified
from sessions s
join users u on u.id = s.user_id
where s.id = @session_id and s.user_id = @user_id and s.revoked_at is null;

-- name: StartSession :one
-- A new session and its first refresh token, in one statement.
with new_session as (
    insert into sessions (user_id) values (@user_id)
    returning id, user_id
), first_token as (
    insert into refresh_tokens (user_id, session_id, token_hash, expires_at)
    select user_id, id, @token_hash, @expires_at from new_session
    returning session_id
)
select first_token.session_id from first_token;

-- name: RevokeSession :execrows
update sessions set revoked_at = now(), revoked_reason = @reason
where id = @session_id and user_id = @user_id and revoked_at is null;

-- name: RotateRefreshToken :one
-- Spends the presented token and stores its successor in the same session, in one statement: only one concurrent
-- caller can spend a token, and only while it is unexpired and its session live. No row: it could not be spent.
with spent as (
    update refresh_tokens t set spent_at = now()
    from sessions s
    where t.token_hash = @token_hash and t.spent_at is null and t.expires_at > now()
      and s.id = t.session_id and s.revoked_at is null
    returning t.user_id, t.session_id
), successor as (
    insert into refresh_tokens (user_id, session_id, token_hash, expires_at)
    select user_id, session_id, @new_token_hash, @expires_at from spent
    returning user_id, session_id
)
select successor.user_id, successor.session_id from successor;

-- name: GetGraceSuccessor :one
-- The successor of a token spent less than @grace_seconds ago, provided that successor is still unspent and
-- unexpired and the session live: a concurrent refresh, or a response lost on its way, gets the same successor.
select successor.user_id, successor.session_id
from refresh_tokens spent
join refresh_tokens successor on successor.session_id = spent.session_id and successor.token_hash = @successor_hash
join sessions s on s.id = spent.session_id and s.revoked_at is null
where spent.token_hash = @token_hash
  and spent.spent_at > now() - make_interval(secs => @grace_seconds::int)
  and successor.spent_at is null and successor.expires_at > now();

-- name: GetRefreshToken :one
select user_id, session_id, spent_at, expires_at from refresh_tokens where token_hash = @token_hash;

-- name: GetSessionForRefreshToken :one
select session_id from refresh_tokens where token_hash = @token_hash and user_id = @user_id;

-- name: DeleteUser :execrows
delete from users where id = @user_id;

-- name: PurgeExpiredRefreshTokens :execrows
delete from refresh_tokens where expires_at < @before;

-- name: ExportSessions :many
select id, created_at, revoked_at, revoked_reason from sessions where user_id = @user_id order by created_at;

-- name: ExportReferral :one
select referral_code, linked_at from referral_attributions where user_id = @user_id;

-- name: RevokeUserSessions :many
-- Ends every live session of the user but @keep_session_id (none kept when null); returns the ended ones.
update sessions set revoked_at = now(), revoked_reason = @reason::text
where user_id = @user_id and revoked_at is null and id is distinct from sqlc.narg(keep_session_id)::uuid
returning id;

-- name: ReplacePasswordHash :execrows
-- Fenced by the hash the caller verified: a password changed meanwhile (another device, a reset) is not overwritten.
update users set password_hash = @new_hash, updated_at = now()
where id = @user_id and password_hash = @old_hash;

-- name: ExchangeImportedRefreshToken :one
-- Spends an imported refresh token (once, within the window) and opens a session with this service's first
-- refresh token, in one statement: of concurrent exchanges of one token, one wins.
with spent as (
    update imported_refresh_tokens imported set exchanged_at = now()
    where imported.token_hash = @token_hash and imported.exchanged_at is null
      and imported.imported_at > now() - make_interval(days => @window_days::int)
    returning imported.user_id
), opened as (
    insert into sessions (user_id) select user_id from spent returning id, user_id
), first_token as (
    insert into refresh_tokens (user_id, session_id, token_hash, expires_at)
    select user_id, id, @new_token_hash, @expires_at from opened
    returning session_id
)
select opened.user_id, opened.id as session_id from opened join first_token on first_token.session_id = opened.id;

-- name: GetImportedGraceSuccessor :one
-- The first refresh token an imported token was exchanged for less than @grace_seconds ago, provided it is still
-- unspent and unexpired and its session live: the same grace as GetGraceSuccessor's, for the exchange.
select successor.user_id, successor.session_id
from imported_refresh_tokens imported
join refresh_tokens successor on successor.token_hash = @successor_hash and successor.user_id = imported.user_id
join sessions s on s.id = successor.session_id and s.revoked_at is null
where imported.token_hash = @token_hash
  and imported.exchanged_at > now() - make_interval(secs => @grace_seconds::int)
  and successor.spent_at is null and successor.expires_at > now();

-- name: GetImportedRefreshToken :one
select user_id, imported_at, exchanged_at from imported_refresh_tokens where token_hash = @token_hash;

-- name: OpenSupabaseSession :one
-- Our session for a verified Supabase access token: the one already linked to its Supabase session, or a new one
-- linked now. None when the account does not exist, when the Supabase session belongs to another account, or when
-- an account-wide revocation (sign-out everywhere, a password change or reset, Apple's consent revoked) happened
-- at or after the token was issued: such a token must not open a session the revocation never saw. A concurrent
-- first use links once (the primary key); the loser's statement returns nothing and is asked again.
with linked as (
    insert into supabase_sessions (supabase_session_id, user_id, session_id)
    select @supabase_session_id, u.id, gen_random_uuid()
    from users u
    where u.id = @user_id
      and not exists (
          select 1 from sessions s
          where s.user_id = u.id and s.revoked_at >= @issued_at::timestamptz
            and s.revoked_reason in ('password_change', 'password_reset', 'signout_all', 'apple_consent_revoked')
      )
    on conflict (supabase_session_id) do nothing
    returning session_id, user_id
), opened as (
    insert into sessions (id, user_id)
    select session_id, user_id from linked
    returning id
)
select l.session_id from supabase_sessions l
where l.supabase_session_id = @supabase_session_id and l.user_id = @user_id
union all
select opened.id from opened;

-- name: ExportSupabaseSessions :many
-- The previous backend's sessions this service took over (each is one of the account's sessions).
select supabase_session_id, session_id, created_at from supabase_sessions where user_id = @user_id order by created_at;

-- name: ExportAccountTokens :many
-- The account's single-use links (password reset, email verification): what, for which address and when; never
-- the token or its hash.
select purpose, email, created_at, expires_at, used_at
from account_tokens where user_id = @user_id order by created_at;

-- name: ExportImportedRefreshTokens :many
-- The previous backend's refresh tokens imported for the account: when, and whether exchanged; never the hash.
select imported_at, exchanged_at from imported_refresh_tokens where user_id = @user_id order by imported_at;
