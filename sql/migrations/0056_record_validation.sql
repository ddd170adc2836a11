-- A store purchase validation recorded in one statement (docs/benchmarks.md, "StoreKit validation: statements per
-- validation"): the subscription's state (cookcam_record_subscription_state, migration 0054), then, unless that
-- refused it, the encrypted proof and the validation's history row, whose outcome follows the stored status.
-- Returns the recording's outcome and tiers, the subscription's stored status and period end (what the app answers)
-- and the history row's outcome. It runs in the caller's transaction with the hooks and the notice that follow, so
-- a failure anywhere leaves none of it; a refusal writes nothing here (the caller records it after rolling back).
create function cookcam_record_validation(
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, cause_ref text,
    validation_proof_kind text, validation_proof_hash text, validation_product_id text,
    validation_server_environment text, validation_duration_ms integer,
    proof_sha256 text, proof_key_id text, proof_nonce bytea, proof_ciphertext bytea,
    out outcome text, out before_tier text, out after_tier text, out stored_status text,
    out stored_period_end timestamptz, out validation_outcome text
) language plpgsql as $$
begin
    select r.outcome, r.before_tier, r.after_tier into outcome, before_tier, after_tier
    from cookcam_record_subscription_state(
        account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
        state_billing_period, state_trial_ends_at, state_period_start, state_period_end, state_cancel_at_period_end,
        state_updated_at, state_grace_until, cause_kind, cause_ref) r;
    if outcome in ('owned_elsewhere', 'no_account') then
        return;
    end if;
    select s.status, s.current_period_end into stored_status, stored_period_end
    from subscriptions s
    where s.provider = state_provider and s.provider_subscription_id = state_subscription_id;
    validation_outcome := case when stored_status = 'revoked' then 'revoked'
                               when stored_status in ('expired', 'billing_retry', 'paused') then 'expired'
                               else 'valid' end;
    insert into purchase_proofs (user_id, provider, proof_kind, raw_sha256, key_id, nonce, ciphertext)
    values (account, state_provider, validation_proof_kind, proof_sha256, proof_key_id, proof_nonce, proof_ciphertext)
    on conflict (user_id, provider, raw_sha256) do nothing;
    insert into purchase_validations (user_id, provider, proof_kind, proof_hash, outcome, environment,
                                      server_environment, product_id, duration_ms)
    values (account, state_provider, validation_proof_kind, validation_proof_hash,
            validation_outcome,
            state_environment, validation_server_environment, validation_product_id, validation_duration_ms);
end $$;
