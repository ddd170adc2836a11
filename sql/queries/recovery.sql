-- name: RequestPasswordReset :one
-- Issues a reset token to the account of @email, if there is one; its older unused reset tokens stop working (only
-- the newest link works). No row: no account uses the address.
with account as (
    select id, name from users where lower(email) = lower(@email)
), superseded as (
    delete from account_tokens t using account
    where t.user_id = account.id and t.purpose = 'password_reset' and t.used_at is null
), issued as (
    insert into account_tokens (user_id, purpose, token_hash, expires_at)
    select id, 'password_reset', @token_hash, @expires_at from account
    returning user_id
)
select account.id as user_id, account.name from account join issued on issued.user_id = account.id;

-- name: GetAccountToken :one
select user_id, email, expires_at, used_at from account_tokens where token_hash = @token_hash and purpose = @purpose;

-- name: SpendAccountToken :one
-- Marks a token used while it is unused and unexpired: of concurrent uses of one link, one wins.
update account_tokens set used_at = now()
where token_hash = @token_hash and purpose = @purpose and used_at is null and expires_at > now()
returning user_id, email;

-- name: SetPasswordHash :one
update users set password_hash = @password_hash, updated_at = now() where id = @user_id
returning id, email, name;

-- name: DropUnusedAccountTokens :execrows
-- The links of @purpose the user has not used yet stop working (a password was set another way, a newer link).
delete from account_tokens where user_id = @user_id and purpose = @purpose and used_at is null;

-- name: PurgeExpiredAccountTokens :execrows
delete from account_tokens where expires_at < @before;

-- name: IssueEmailVerification :exec
-- A verification link for @email (the account's address, or the new one of an email change); the account's other
-- unused verification links stop working: one pending verification per account, the newest.
with superseded as (
    delete from account_tokens
    where user_id = @user_id and purpose = 'email_verification' and used_at is null
)
insert into account_tokens (user_id, purpose, token_hash, email, expires_at)
values (@user_id, 'email_verification', @token_hash, @email, @expires_at);

-- name: ConfirmEmail :one
-- The verified address becomes the account's, verified (an email change takes effect here).
update users set email = @email, email_verified = true, updated_at = now() where id = @user_id
returning id, email, name;

-- name: EmailInUse :one
-- Whether another account uses @email.
select exists (select 1 from users where lower(email) = lower(@email) and id <> @user_id) as in_use;
