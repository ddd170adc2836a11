-- Creator payouts through Stripe Connect Express: each creator's connected account (kept current by Connect
-- webhooks) and the payouts (Stripe transfers) taken from the revenue-share balance. A creator's available balance
-- is what creator_earnings adds up to, less payouts that are pending or paid (net of reversals).

-- One Express account per creator, created once by the onboarding route. The flags are Stripe's, stored from the
-- newest account object seen (a Connect webhook's `created`, or the time a fetch was sent): older data is ignored.
create table creator_payout_accounts (
    creator_id uuid primary key references users (id) on delete cascade,
    stripe_account_id text not null unique check (stripe_account_id ~ '^acct_[A-Za-z0-9]{1,100}$'),
    charges_enabled boolean not null default false,
    payouts_enabled boolean not null default false,
    details_submitted boolean not null default false,
    -- Stripe's requirements.currently_due and past_due (what the creator still has to provide) and why the
    -- account is disabled, if it is.
    requirements_due text[] not null default '{}',
    disabled_reason text check (length(disabled_reason) <= 200),
    provider_updated_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- One row per payout. Its id is also the Idempotency-Key of its Stripe transfer and, in the transfer's
-- transfer_group, what finds that transfer again, so retrying a payout can never pay twice.
create table creator_payouts (
    id uuid primary key,
    creator_id uuid not null references users (id) on delete cascade,
    -- The destination when it was requested (a later account change does not redirect a payout in flight).
    stripe_account_id text not null,
    amount_cents integer not null check (amount_cents > 0),
    currency text not null check (currency ~ '^[a-z]{3}$'),
    -- pending: counted against the balance, transfer not confirmed; paid: Stripe made the transfer; failed: Stripe
    -- refused it (nothing moved; the amount is back in the balance); reversed: the whole transfer was reversed.
    status text not null check (status in ('pending', 'paid', 'failed', 'reversed')),
    stripe_transfer_id text unique,
    -- A partly reversed transfer stays `paid` with the reversed part here; the reversed part is back in the balance.
    reversed_cents integer not null default 0 check (reversed_cents between 0 and amount_cents),
    -- The recorded reasons of every change: Stripe's refusal, and the event that reversed it.
    failure_code text check (length(failure_code) <= 200),
    failure_message text check (length(failure_message) <= 1000),
    reversed_by text check (length(reversed_by) <= 200),
    attempts integer not null default 1 check (attempts >= 1),
    created_at timestamptz not null default now(),
    -- When the last attempt to send it started: a lease, so requests and the retry job do not send it at once.
    last_attempt_at timestamptz not null default now(),
    settled_at timestamptz,
    check (status not in ('paid', 'reversed') or stripe_transfer_id is not null),
    check (status <> 'failed' or failure_code is not null),
    check ((status = 'pending') = (settled_at is null))
);
create index creator_payouts_creator_idx on creator_payouts (creator_id, created_at desc);
-- The retry job's scan of payouts whose outcome is unknown.
create index creator_payouts_pending_idx on creator_payouts (last_attempt_at) where status = 'pending';

-- Connect webhooks (events on connected accounts) have their own endpoint and signing secret, and are stored in
-- the same event store as the payment providers' under their own name. Widening the check keeps the previous
-- release working during a rollout.
alter table provider_events drop constraint provider_events_provider_check;
alter table provider_events add constraint provider_events_provider_check
    check (provider in ('stripe', 'stripe_connect', 'apple', 'google'));
