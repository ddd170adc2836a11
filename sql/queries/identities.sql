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
