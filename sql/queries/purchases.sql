-- name: ListProofs :many
-- For forensics (newest first); the caller decrypts with the key named by key_id.
select id, provider, proof_kind, key_id, nonce, ciphertext, created_at
from purchase_proofs
where user_id = @user_id
order by created_at desc
limit @max_rows;

-- name: RecordValidation :exec
insert into purchase_validations (
    user_id, provider, proof_kind, proof_hash, outcome, error_code, environment, server_environment, product_id,
    duration_ms
) values (
    @user_id, @provider, @proof_kind, sqlc.narg(proof_hash), @outcome, sqlc.narg(error_code),
    sqlc.narg(environment), @server_environment, sqlc.narg(product_id), @duration_ms
);

-- name: RecordValidatedPurchase :one
-- A verified purchase's state recorded for the account with its encrypted proof and its validation's history row,
-- in one statement (cookcam_record_validation, migration 0057): the recording's outcome and the entitled tier
-- before and after, the subscription's stored status and period end, and the history row's outcome; the hooks'
-- triggers and the notice run within it. A refusal (owned_elsewhere, no_account) writes nothing.
select outcome, before_tier, after_tier, stored_status, stored_period_end, validation_outcome
from cookcam_record_validation(
    @user_id, @provider, @provider_subscription_id, @tier_slug, @status, @environment, sqlc.narg(billing_period),
    sqlc.narg(trial_ends_at), sqlc.narg(current_period_start), sqlc.narg(current_period_end), @cancel_at_period_end,
    @provider_updated_at, sqlc.narg(grace_until), @cause_kind, @cause_ref, @proof_kind, @proof_hash, @product_id,
    @server_environment, @duration_ms, @raw_sha256, @key_id, @nonce, @ciphertext, @hook_context);

-- name: ListValidations :many
-- The account's validation history for its data export (no proofs, no hashes).
select provider, proof_kind, outcome, error_code, environment, product_id, duration_ms, created_at
from purchase_validations
where user_id = @user_id
order by created_at desc
limit 1000;

-- name: RecordSecurityEvent :exec
insert into billing_security_events (user_id, provider, kind, proof_hash, detail)
values (@user_id, @provider, @kind, sqlc.narg(proof_hash), @detail);

-- name: ListFraudSignals :many
select s.signal::text as signal, s.user_id::uuid as user_id, u.email, s.provider::text as provider,
    s.occurrences::bigint as occurrences, s.first_seen::timestamptz as first_seen,
    s.last_seen::timestamptz as last_seen
from billing_fraud_signals s
join users u on u.id = s.user_id
order by s.last_seen desc
limit @max_rows;

-- name: ListProofsNotUnderKey :many
-- Proofs encrypted under an older key, a page at a time (re-encryption after a key rotation).
select id, user_id, provider, proof_kind, key_id, nonce, ciphertext
from purchase_proofs
where key_id <> @current_key_id
order by id
limit @max_rows;

-- name: ReencryptProof :exec
update purchase_proofs set key_id = @key_id, nonce = @nonce, ciphertext = @ciphertext where id = @id;
