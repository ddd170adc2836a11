-- Imported billing bindings that never resolve stop costing provider calls (docs/runbooks/supabase-import.md,
-- "Bindings that never resolve"). A failed attempt is either a refusal (the provider says the id does not exist:
-- Stripe's resource_missing, the App Store's 404, Google Play's 404/410 for the token), counted in `refusals`, or
-- anything else (the provider unavailable, our credentials refused), counted in `attempts` only. The binding is
-- resolved as `dead` after BILLING_IMPORTED_BINDING_MAX_REFUSALS refusals, or at its first failed attempt once it
-- is older than BILLING_IMPORTED_BINDING_MAX_AGE_DAYS; `last_error` keeps the last code. Reconciliation asks no
-- provider about it again; an operator revives one by setting outcome and resolved_at back to null.
alter table imported_billing_bindings
    add column refusals integer not null default 0 check (refusals >= 0),
    add column last_attempt_at timestamptz,
    drop constraint imported_billing_bindings_outcome_check,
    add constraint imported_billing_bindings_outcome_check
        check (outcome in ('recorded', 'unmapped', 'conflict', 'dead'));
create index imported_billing_bindings_dead_idx on imported_billing_bindings (provider, resolved_at)
    where outcome = 'dead';
