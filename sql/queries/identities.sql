-- name: ListIdentities :many
-- row: Identity
-- The account's Apple and Google sign-in identities (GET /auth/identities and the export); the provider's subject
-- stays out: it is the provider's key, not something the owner needs.
select provider, email, email_verified, created_at, last_sign_in_at
from user_identities where user_id = @user_id order by created_at, provider;

-- name: LockSignInMethods :one
-- Locks the account row for the rest of the transaction, so that two unlinks of one account run one after the
-- other, and says whether it has a password.
select (password_hash is not null)::boolean as has_password from users where id = @user_id for update;

-- name: UnlinkIdentity :execrows
-- Unlinks the account's identities of @provider, only while another way to sign in remains (a password, or an
-- identity of another provider). Run after LockSignInMethods in the same transaction.
delete from user_identities i
where i.user_id = @user_id and i.provider = @provider
  and (sqlc.arg(has_password)::boolean
       or exists (select 1 from user_identities o where o.user_id = i.user_id and o.provider <> @provider));

-- name: CountIdentitiesOf :one
select count(*) from user_identities where user_id = @user_id and provider = @provider;

-- name: HasPassword :one
select (password_hash is not null)::boolean as has_password from users where id = @user_id;

-- name: SignInWithIdentity :one
-- The account bound to @provider's @subject, if any; records the sign-in and the email state the provider reports
-- now (kept as it was when the token carries no email).
update user_identities
set last_sign_in_at = now(),
    email = coalesce(sqlc.narg(email)::text, email),
    email_verified = case when sqlc.narg(email)::text is null then email_verified else @email_verified::boolean end
where provider = @provider and subject = @subject
returning user_id;

-- name: GetAccountForLinking :one
select id, email_verified from users where lower(email) = lower(@email);

-- name: LinkIdentity :exec
insert into user_identities (user_id, provider, subject, email, email_verified, last_sign_in_at)
values (@user_id, @provider, @subject, @email, @email_verified, now());

-- name: CreateIdentityAccount :one
-- A password-less account and its identity, in one statement.
with new_user as (
    insert into users (email, password_hash, name, email_verified)
    values (@email, null, @name, @email_verified::boolean)
    returning id
), identity as (
    insert into user_identities (user_id, provider, subject, email, email_verified, last_sign_in_at)
    select id, @provider, @subject, @email, @email_verified::boolean, now() from new_user
    returning user_id
)
select user_id from identity;

-- name: RevokeAppleIdentity :one
-- Apple's consent-revoked or account-delete for @subject: the identity goes, unless it was linked after the event
-- (a replayed or late notification never removes a newer link). No row: nothing to do.
delete from user_identities
where provider = 'apple' and subject = @subject and created_at <= @event_time
returning user_id;

-- name: SetAppleEmailForwarding :execrows
-- Apple's email-disabled / email-enabled for @subject, applied only if newer than the last event applied.
update user_identities
set email_forwarding_disabled = @disabled, provider_event_at = @event_time
where provider = 'apple' and subject = @subject
  and (provider_event_at is null or provider_event_at < @event_time);

-- name: AppleIdentityOwner :one
-- The account of Apple's @subject, if it was linked before @event_time.
select user_id from user_identities where provider = 'apple' and subject = @subject and created_at <= @event_time;

-- name: HasSignInMethodBesides :one
-- Whether the account can sign in without its identities of @provider: a password, or another provider.
select (u.password_hash is not null
        or exists (select 1 from user_identities i where i.user_id = u.id and i.provider <> @provider))::boolean
from users u where u.id = @user_id;

-- name: IsIdentityOf :one
-- Whether the provider account @subject is linked to @user_id (a deletion re-authenticated with that provider).
select exists (
    select 1 from user_identities where user_id = @user_id and provider = @provider and subject = @subject
)::boolean;
