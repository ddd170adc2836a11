-- Purchase verification: the encrypted proofs clients sent, every validation's outcome, security events, and
-- the fraud view built from them. Proofs and tokens are never stored in clear: `proof_hash` is the sha256 (hex)
-- of the subscription's identity (original transaction id, purchase token, Stripe charge), so rows about one
-- purchase can be grouped without keeping the secret-like value itself.

create table purchase_proofs (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider in ('apple', 'google')),
    proof_kind text not null check (proof_kind in ('signed_transaction', 'receipt', 'purchase_token')),
    -- sha256 of the raw proof: the same proof sent again is stored once.
    raw_sha256 text not null check (length(raw_sha256) = 64),
    -- AES-GCM: the key's id (BILLING_RECEIPT_KEYS, rotatable), a 96-bit nonce, the ciphertext with its tag.
    key_id text not null check (length(key_id) between 1 and 32),
    nonce bytea not null check (length(nonce) = 12),
    ciphertext bytea not null check (length(ciphertext) <= 1048576),
    created_at timestamptz not null default now(),
    unique (user_id, provider, raw_sha256)
);

create table purchase_validations (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider in ('apple', 'google')),
    proof_kind text not null check (proof_kind in ('signed_transaction', 'receipt', 'purchase_token')),
    proof_hash text check (length(proof_hash) = 64),
    outcome text not null check (
        outcome in ('valid', 'expired', 'revoked', 'invalid', 'owned_elsewhere', 'unavailable')
    ),
    error_code text check (length(error_code) <= 64),
    environment text check (environment in ('production', 'sandbox')),
    -- The server's own environment at the time: a sandbox proof accepted by production is a fraud signal.
    server_environment text not null check (length(server_environment) <= 32),
    product_id text check (length(product_id) <= 200),
    duration_ms integer not null check (duration_ms >= 0),
    created_at timestamptz not null default now()
);
create index purchase_validations_user_idx on purchase_validations (user_id, created_at desc);
create index purchase_validations_proof_idx on purchase_validations (proof_hash) where proof_hash is not null;

create table billing_security_events (
    id uuid primary key default gen_random_uuid(),
    -- The account concerned: the one that presented another account's proof, or the disputing customer.
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider in ('stripe', 'apple', 'google')),
    kind text not null check (kind in ('proof_owned_elsewhere', 'account_token_mismatch', 'payment_disputed')),
    proof_hash text check (length(proof_hash) = 64),
    detail text not null default '' check (length(detail) <= 500),
    created_at timestamptz not null default now()
);
create index billing_security_events_user_idx on billing_security_events (user_id, created_at desc);

-- One row per (signal, account, provider): what the fraud report lists. Windows: failure rates over 24 hours,
-- everything else over all kept history.
create view billing_fraud_signals as
select
    kind as signal, user_id, provider, count(*) as occurrences, min(created_at) as first_seen,
    max(created_at) as last_seen
from billing_security_events
group by kind, user_id, provider
union all
-- One purchase presented by more than one account (even when the first owner has since deleted theirs).
select
    'repeated_proof', v.user_id, v.provider, count(*), min(v.created_at), max(v.created_at)
from purchase_validations v
where v.proof_hash in (
    select proof_hash from purchase_validations
    where proof_hash is not null
    group by proof_hash
    having count(distinct user_id) > 1
)
group by v.user_id, v.provider
union all
select
    'sandbox_in_production', user_id, provider, count(*), min(created_at), max(created_at)
from purchase_validations
where environment = 'sandbox' and server_environment = 'production' and outcome = 'valid'
group by user_id, provider
union all
-- At least 5 validations in 24 hours, more than half of them refused as invalid.
select
    'high_failure_rate', user_id, provider, count(*), min(created_at), max(created_at)
from purchase_validations
where created_at > now() - interval '24 hours'
group by user_id, provider
having count(*) >= 5 and count(*) filter (where outcome = 'invalid') * 2 > count(*);
