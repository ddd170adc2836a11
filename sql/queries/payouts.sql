-- name: GetPayoutAccount :one
select creator_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted, requirements_due,
       disabled_reason, provider_updated_at, updated_at
from creator_payout_accounts
where creator_id = @creator_id;

-- name: PayoutAccountCreator :one
-- Whose connected account this is (Connect webhooks name the account, not the creator).
select creator_id from creator_payout_accounts where stripe_account_id = @stripe_account_id;

-- name: RecordPayoutAccount :one
-- The account as Stripe described it at @provider_updated_at: inserted for an existing user, or stored over the
-- creator's row unless that row holds newer data or another account. No row: nothing changed.
insert into creator_payout_accounts (creator_id, stripe_account_id, charges_enabled, payouts_enabled,
                                     details_submitted, requirements_due, disabled_reason, provider_updated_at)
select u.id, @stripe_account_id, @charges_enabled, @payouts_enabled, @details_submitted, @requirements_due::text[],
       sqlc.narg(disabled_reason), @provider_updated_at
from users u
where u.id = @creator_id
on conflict (creator_id) do update set
    charges_enabled = excluded.charges_enabled,
    payouts_enabled = excluded.payouts_enabled,
    details_submitted = excluded.details_submitted,
    requirements_due = excluded.requirements_due,
    disabled_reason = excluded.disabled_reason,
    provider_updated_at = excluded.provider_updated_at,
    updated_at = now()
where creator_payout_accounts.stripe_account_id = excluded.stripe_account_id
  and creator_payout_accounts.provider_updated_at <= excluded.provider_updated_at
returning creator_id, payouts_enabled;

-- name: CreatorBalance :one
-- Cents earned (net of reversed earnings), of which still held (payable_at not reached: the refund and chargeback
-- window), paid out (net of reversed transfers) and pending (being sent).
select e.earned_cents, e.held_cents, p.paid_out_cents, p.pending_cents
from (
    select coalesce(sum(ce.amount_cents), 0)::bigint as earned_cents,
           coalesce(sum(ce.amount_cents) filter (where ce.payable_at > now()), 0)::bigint as held_cents
    from creator_earnings ce
    where ce.creator_id = @creator_id
) e
cross join (
    select coalesce(sum(cp.amount_cents - cp.reversed_cents) filter (where cp.status in ('paid', 'reversed')), 0)::bigint
               as paid_out_cents,
           coalesce(sum(cp.amount_cents) filter (where cp.status = 'pending'), 0)::bigint as pending_cents
    from creator_payouts cp
    where cp.creator_id = @creator_id
) p;

-- name: InsertPayout :one
-- row: PayoutRecord
insert into creator_payouts (id, creator_id, stripe_account_id, amount_cents, currency, status)
values (@id, @creator_id, @stripe_account_id, @amount_cents, @currency, 'pending')
returning id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
          created_at, settled_at;

-- name: GetPayout :one
-- row: PayoutRecord
select id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
       created_at, settled_at
from creator_payouts
where id = @id;

-- name: PendingPayoutOf :one
-- The creator's payout whose outcome is not known yet (at most one: a new one is refused while it exists).
select id from creator_payouts where creator_id = @creator_id and status = 'pending' order by created_at limit 1;

-- name: ClaimPayoutAttempt :one
-- row: PayoutRecord
-- The next attempt at a pending payout, unless one started less than @lease_seconds ago (it may be in flight).
update creator_payouts
set attempts = attempts + 1, last_attempt_at = now()
where id = @id
  and status = 'pending'
  and last_attempt_at < now() - make_interval(secs => @lease_seconds::double precision)
returning id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
          created_at, settled_at;

-- name: ListStalePendingPayouts :many
-- Payouts whose outcome is unknown and that nobody has tried for @lease_seconds (the retry job's work).
select id
from creator_payouts
where status = 'pending' and last_attempt_at < now() - make_interval(secs => @lease_seconds::double precision)
order by last_attempt_at
limit 100;

-- name: MarkPayoutPaid :one
-- row: PayoutRecord
-- Stripe made the transfer. Also over a `failed` row: what Stripe says exists is the truth (the refusal stays
-- recorded beside it). No row: it was recorded paid already, or the transfer's amount is not the payout's.
update creator_payouts
set status = 'paid', stripe_transfer_id = @stripe_transfer_id, settled_at = now()
where id = @id and amount_cents = @amount_cents and status in ('pending', 'failed')
returning id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
          created_at, settled_at;

-- name: MarkPayoutFailed :one
-- row: PayoutRecord
-- Stripe refused the transfer (nothing moved): the amount is no longer counted against the balance.
update creator_payouts
set status = 'failed', failure_code = @failure_code, failure_message = sqlc.narg(failure_message), settled_at = now()
where id = @id and status = 'pending'
returning id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
          created_at, settled_at;

-- name: PayoutOfTransfer :one
select id from creator_payouts where stripe_transfer_id = @stripe_transfer_id;

-- name: RecordPayoutReversal :one
-- row: PayoutRecord
-- Stripe's amount_reversed so far (it only grows, so an older event changes nothing): the reversed part returns to
-- the balance; a transfer reversed in full is `reversed`.
update creator_payouts
set reversed_cents = least(@amount_reversed::integer, amount_cents),
    status = case when @amount_reversed::integer >= amount_cents then 'reversed' else 'paid' end,
    reversed_by = @reversed_by
where id = @id
  and stripe_transfer_id = @stripe_transfer_id
  and status in ('paid', 'reversed')
  and @amount_reversed::integer > reversed_cents
returning id, creator_id, stripe_account_id, amount_cents, currency, status, reversed_cents, failure_code, attempts,
          created_at, settled_at;

-- name: ExportCreatorPayouts :many
-- A creator's payouts for their export: no Stripe ids, no provider messages.
select amount_cents, currency, status, reversed_cents, failure_code, created_at, settled_at
from creator_payouts
where creator_id = @creator_id
order by created_at, id
limit 100000;

-- name: ExportPayoutAccount :one
select charges_enabled, payouts_enabled, details_submitted, created_at, updated_at
from creator_payout_accounts
where creator_id = @creator_id;
