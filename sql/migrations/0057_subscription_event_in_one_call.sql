-- A Stripe subscription event in one statement (docs/benchmarks.md, "The Stripe webhook in one call"): the event
-- stored as processed, the subscription's state recorded with its history row, the creators' revenue share and both
-- real-time notices, where a unique event took seven round trips (the status read, BEGIN, the event, the state,
-- the share, the notice, COMMIT). A single statement is atomic: a worker killed mid-event leaves nothing of it, and
-- the provider's redelivery applies it once.
--
-- What had to move into the database for that, each with one writer:
-- 1. The real-time envelope (cookcam_notify_user): app/realtime/events.py's publish calls it too.
-- 2. The subscription.updated notice, sent by the recording function itself (every path records through it).
-- 3. The revenue share, as a trigger that the creators' migration below registers on subscriptions, the database's
--    form of the start-up hook registration of app/billing/hooks.py: billing's SQL knows nothing of creators. What
--    the share needs beyond the stored row (the provider's hold, Family Sharing, Google's order id) comes from the
--    Python hooks as the recording's context (BillingHooks.recording_context), which the recording function makes
--    visible to the triggers for the duration of its writes (the transaction-local setting
--    cookcam.recording_context).

-- 1. Realtime: the envelope every notice travels in on the cookcam_events channel (app/realtime/events.py's Envelope
-- decodes it), addressed to one user. The size of what Python publishes is checked there; the notices sent from SQL
-- are a few fixed fields.
create function cookcam_user_event(account uuid, event_type text, event_data jsonb) returns text
language sql immutable as $$
    select jsonb_build_object('user_id', account,
                              'event', jsonb_build_object('type', event_type, 'data', event_data))::text
$$;

-- 2. Billing: the state's recording takes the hooks' context and sends the notice. The 0054 and 0056 functions are
-- replaced (one more argument each); their rules are unchanged.
drop function cookcam_record_validation(
    uuid, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean, timestamptz,
    timestamptz, text, text, text, text, text, text, integer, text, text, bytea, bytea);
drop function cookcam_record_subscription_state(
    uuid, text, text, text, text, text, text, timestamptz, timestamptz, timestamptz, boolean, timestamptz,
    timestamptz, text, text);

-- Create or update a subscription from verified provider data and keep the history of every status or tier change
-- with its cause; returns the outcome with the entitled tier before and after:
--   created, changed (something the user sees moved), unchanged, stale, final (the ordering rule refused it),
--   owned_elsewhere (the subscription id is bound to another account), no_account (the account was deleted).
-- The two refusals write nothing. A revoked subscription stays revoked until its provider grants it again (a
-- refunded App Store purchase: the "expired" that follows must not hide why). When anything the user sees changed
-- (created, changed, or the entitled tier moved), the user's sockets get subscription.updated. The triggers on
-- subscriptions see `hook_context` while this function writes (cookcam.recording_context; '' otherwise).
create function cookcam_record_subscription_state(
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, cause_ref text, hook_context jsonb,
    out outcome text, out before_tier text, out after_tier text
) language plpgsql as $$
declare
    stored subscriptions%rowtype;
    created_id uuid;
begin
    perform set_config('cookcam.recording_context', coalesce(hook_context, '{}')::text, true);
    before_tier := cookcam_entitled_tier(account);
    insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status, environment,
                               billing_period, trial_ends_at, current_period_start, current_period_end,
                               cancel_at_period_end, provider_updated_at, grace_until)
    select account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
           state_billing_period, state_trial_ends_at, state_period_start, state_period_end,
           state_cancel_at_period_end, state_updated_at, state_grace_until
    where exists (select 1 from users where id = account)
    on conflict (provider, provider_subscription_id) do nothing
    returning id into created_id;
    if created_id is not null then
        insert into subscription_status_history (subscription_id, user_id, from_status, to_status, from_tier,
                                                 to_tier, cause_kind, cause_ref)
        values (created_id, account, null, state_status, null, state_tier, cause_kind, cause_ref);
        outcome := 'created';
    else
        select * into stored from subscriptions
        where provider = state_provider and provider_subscription_id = state_subscription_id
        for update;
        if not found then
            outcome := 'no_account';  -- not inserted for want of the account, and not stored for another
        elsif stored.user_id <> account then
            outcome := 'owned_elsewhere';
        else
            outcome := cookcam_subscription_ordering(
                stored.status, stored.provider_updated_at, state_provider, state_status, state_updated_at);
            if outcome = 'apply' and stored.status = 'revoked'
               and state_status not in ('trialing', 'active', 'grace_period', 'cancelled') then
                outcome := 'unchanged';
            elsif outcome = 'apply' then
                update subscriptions set
                    tier_slug = state_tier,
                    status = state_status,
                    environment = state_environment,
                    billing_period = state_billing_period,
                    trial_ends_at = state_trial_ends_at,
                    current_period_start = state_period_start,
                    current_period_end = state_period_end,
                    cancel_at_period_end = state_cancel_at_period_end,
                    -- An ending applied whatever its time never moves the stored time back.
                    provider_updated_at = greatest(state_updated_at, stored.provider_updated_at),
                    grace_until = state_grace_until,
                    updated_at = now()
                where id = stored.id;
                if (stored.status, stored.tier_slug) = (state_status, state_tier) then
                    -- Not a status change (no history row), but the user sees it: a renewal switched off or back
                    -- on, or a period that moved (a renewal).
                    outcome := case
                        when (stored.cancel_at_period_end, stored.current_period_end)
                             is distinct from (state_cancel_at_period_end, state_period_end) then 'changed'
                        else 'unchanged' end;
                else
                    insert into subscription_status_history (subscription_id, user_id, from_status, to_status,
                                                             from_tier, to_tier, cause_kind, cause_ref)
                    values (stored.id, account, stored.status, state_status, stored.tier_slug, state_tier,
                            cause_kind, cause_ref);
                    outcome := 'changed';
                end if;
            end if;
        end if;
    end if;
    perform set_config('cookcam.recording_context', '', true);
    if outcome in ('no_account', 'owned_elsewhere') then
        after_tier := before_tier;
        return;
    end if;
    after_tier := cookcam_entitled_tier(account);
    if outcome in ('created', 'changed') or before_tier <> after_tier then
        perform pg_notify('cookcam_events', cookcam_user_event(account, 'subscription.updated',
                                    jsonb_build_object('tier_slug', after_tier, 'status', state_status)));
    end if;
end $$;

-- As in 0056, with the hooks' context passed to the recording.
create function cookcam_record_validation(
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, cause_ref text,
    validation_proof_kind text, validation_proof_hash text, validation_product_id text,
    validation_server_environment text, validation_duration_ms integer,
    proof_sha256 text, proof_key_id text, proof_nonce bytea, proof_ciphertext bytea, hook_context jsonb,
    out outcome text, out before_tier text, out after_tier text, out stored_status text,
    out stored_period_end timestamptz, out validation_outcome text
) language plpgsql as $$
begin
    select r.outcome, r.before_tier, r.after_tier into outcome, before_tier, after_tier
    from cookcam_record_subscription_state(
        account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
        state_billing_period, state_trial_ends_at, state_period_start, state_period_end, state_cancel_at_period_end,
        state_updated_at, state_grace_until, cause_kind, cause_ref, hook_context) r;
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

-- 3. The event store: an event whose effect calls no provider, stored in the statement or transaction that applies
-- its effect ('processed': that commit is the claim, the effect and the completion at once), or after that was
-- rolled back ('failed', with the error): the first delivery, or a takeover of a failed one (or of a claim whose
-- lease ran out). Nulls: the event is processed already, or another worker holds a live claim. A concurrent first
-- delivery waits here for the other's transaction, then finds the event processed (or takes over its failure).
create function cookcam_store_event(
    event_provider text, event_ref text, event_kind text, event_status text, event_payload jsonb, event_error text,
    out stored_id uuid, out stored_attempts integer
) language plpgsql as $$
begin
    insert into provider_events as e (provider, event_id, event_type, status, attempts, payload, error, processed_at)
    values (event_provider, event_ref, event_kind, event_status, 1, event_payload, event_error,
            case when event_status = 'processed' then now() end)
    on conflict (provider, event_id) do update set
        status = excluded.status,
        attempts = e.attempts + 1,
        claimed_until = null,
        error = excluded.error,
        processed_at = excluded.processed_at
    where e.status = 'failed'
       or (e.status = 'processing' and e.claimed_until < now())
    returning e.id, e.attempts into stored_id, stored_attempts;
end $$;

-- A provider event whose whole effect is one subscription state: 'duplicate' when it was processed before (nothing
-- written), 'taken' when another worker holds it or it was processed meanwhile (nothing written), else stored as
-- processed with the state recorded (caused by the event: `cause_kind`, the event's id): the recording's outcome
-- (refusals record nothing, and the event completes).
create function cookcam_store_subscription_event(
    event_provider text, event_ref text, event_kind text, event_payload text,
    account uuid, state_provider text, state_subscription_id text, state_tier text, state_status text,
    state_environment text, state_billing_period text, state_trial_ends_at timestamptz,
    state_period_start timestamptz, state_period_end timestamptz, state_cancel_at_period_end boolean,
    state_updated_at timestamptz, state_grace_until timestamptz, cause_kind text, hook_context jsonb,
    out outcome text
) language plpgsql as $$
begin
    if exists (select from provider_events
               where provider = event_provider and event_id = event_ref and status = 'processed') then
        outcome := 'duplicate';
        return;
    end if;
    -- The body is parsed as jsonb only here, once the event is known to be new.
    if (cookcam_store_event(event_provider, event_ref, event_kind, 'processed', event_payload::jsonb, null)).stored_id
       is null then
        outcome := 'taken';
        return;
    end if;
    select r.outcome into outcome
    from cookcam_record_subscription_state(
        account, state_provider, state_subscription_id, state_tier, state_status, state_environment,
        state_billing_period, state_trial_ends_at, state_period_start, state_period_end, state_cancel_at_period_end,
        state_updated_at, state_grace_until, cause_kind, event_ref, hook_context) r;
end $$;

-- 4. Creators: the revenue share (docs/creators.md), registered on billing's table. It runs for every recorded
-- state that changed something the user sees (the recording's created and changed outcomes: status, tier, period
-- end or renewal switch), with the context the creators' Python hook gave the recording under 'revenue_share';
-- a write without one (no recording: operator SQL, test fixtures; or hooks without the creators') earns nothing.

-- What identifies one paid period of a subscription: its start (UTC, ISO 8601 as Python's isoformat() writes it),
-- or for Google the order that paid for it (app/creators/revenue.py's period_key builds the same for voided orders).
create function cookcam_period_key(
    provider text, subscription_ref text, order_id text, period_start timestamptz
) returns text language sql immutable as $$
    select provider || ':' || subscription_ref || ':' || coalesce(
        order_id,
        to_char(period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from period_start at time zone 'UTC')::bigint % 1000000 = 0 then ''
                else to_char(period_start at time zone 'UTC', '.US') end
        || '+00:00')
$$;

-- The reversal of a period's earning (refund or revocation), once, with its creator's notice; nothing when there
-- is none to reverse. It carries its earning's payable_at: during the hold both stay pending and cancel out there.
create function cookcam_reverse_earning(
    earning_key text, out reversed_creator_id uuid, out reversed_amount_cents integer
) language plpgsql as $$
begin
    insert into creator_earnings as r (creator_id, link_id, referred_user_id, subscription_id, provider,
                                       period_start, kind, amount_cents, net_cents, share_percent, currency,
                                       period_key, payable_at)
    select e.creator_id, e.link_id, e.referred_user_id, e.subscription_id, e.provider, e.period_start, 'reversal',
           -e.amount_cents, e.net_cents, e.share_percent, e.currency, e.period_key, e.payable_at
    from creator_earnings e
    where e.period_key = earning_key and e.kind = 'earning'
    on conflict (period_key, kind) do nothing
    returning r.creator_id, r.amount_cents into reversed_creator_id, reversed_amount_cents;
    if reversed_creator_id is not null then
        perform pg_notify('cookcam_events', cookcam_user_event(reversed_creator_id, 'creator.earning',
                                    jsonb_build_object('amount_cents', reversed_amount_cents, 'kind', 'reversal')));
    end if;
end $$;

-- Earn for the subscription's current period when it is paid, or reverse that when it was revoked. Only real money
-- earns: not an operator's grant, a free tier, a sandbox purchase, Family Sharing access, a period in a trial or
-- before the subscriber was attributed, or a period already recorded (by its key, or as an earning of the
-- subscription with the same start: a Google period's key was its start before it became its order id).
create function cookcam_share_recorded_period() returns trigger language plpgsql as $$
declare
    share jsonb := nullif(current_setting('cookcam.recording_context', true), '')::jsonb -> 'revenue_share';
    earning_key text;
    earned record;
begin
    if share is null or new.provider = 'promotional' or new.tier_slug = 'free'
       or new.current_period_start is null or new.billing_period is null
       or (share ->> 'family_shared')::boolean
       -- Most accounts were referred by nobody: one primary-key read, and nothing to earn or reverse. (An
       -- attribution is deleted only with its account, whose subscriptions go with it: a subscription never
       -- outlives its account's attribution.)
       or not exists (select from referral_attributions a where a.user_id = new.user_id) then
        return null;
    end if;
    earning_key := cookcam_period_key(new.provider, new.provider_subscription_id, share ->> 'order_id',
                                      new.current_period_start);
    if new.status = 'revoked' then
        perform cookcam_reverse_earning(earning_key);
        return null;
    end if;
    if new.status not in ('active', 'cancelled')  -- paid; grace periods and billing retries are not
       or (new.trial_ends_at is not null and new.current_period_start < new.trial_ends_at) then
        return null;
    end if;
    insert into creator_earnings (creator_id, link_id, referred_user_id, subscription_id, provider, period_start,
                                  kind, amount_cents, net_cents, share_percent, currency, period_key, payable_at)
    select l.creator_id, l.id, a.user_id, new.id, new.provider, new.current_period_start, 'earning',
           net.cents * share_cut.percent / 100, net.cents, share_cut.percent, t.currency, earning_key,
           now() + make_interval(days => (share ->> 'hold_days')::integer)
    from referral_attributions a
    join affiliate_links l on l.id = a.link_id
    join tiers t on t.slug = new.tier_slug
    join provider_fees f on f.provider = new.provider
    cross join lateral (
        select (case when new.billing_period = 'yearly' then t.yearly_price_cents else t.monthly_price_cents end)
               * (100 - f.fee_percent) / 100 as cents
    ) net
    cross join lateral (select c.revenue_share_percent as percent from tiers c where c.slug = 'creator') share_cut
    where a.user_id = new.user_id
      and new.environment = 'production'
      and a.linked_at <= new.current_period_start
      and not exists (
          select from creator_earnings e
          where e.creator_id = l.creator_id and e.subscription_id = new.id
            and e.period_start = new.current_period_start and e.kind = 'earning'
      )
    on conflict (period_key, kind) do nothing
    returning creator_id, amount_cents into earned;
    if earned.creator_id is not null then
        perform pg_notify('cookcam_events', cookcam_user_event(earned.creator_id, 'creator.earning',
                                    jsonb_build_object('amount_cents', earned.amount_cents, 'kind', 'earning')));
    end if;
    return null;
end $$;

create trigger subscriptions_recorded_share after insert on subscriptions
    for each row execute function cookcam_share_recorded_period();
create trigger subscriptions_changed_share after update on subscriptions
    for each row
    when ((old.status, old.tier_slug, old.cancel_at_period_end, old.current_period_end)
          is distinct from (new.status, new.tier_slug, new.cancel_at_period_end, new.current_period_end))
    execute function cookcam_share_recorded_period();
