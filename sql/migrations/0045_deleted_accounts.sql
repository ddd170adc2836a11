-- Accounts deleted here (docs/migration.md "Running the import again"; docs/architecture.md "Deleted accounts").
--
-- `cookcam import supabase` keeps the old backend's account ids, so a run after the switch (a late export that
-- picks up stragglers) would bring back an account its owner deleted here since the first run: its email, its
-- password hash, its identities. This tombstone, like billing's `deleted_account_tokens`, keeps only the sha256 of
-- the account's id (the hex digest of its text form), never who the account was; the importer skips every id it
-- names. It is the database's own record of a deletion, written by a trigger on every deleted users row, whatever
-- path deleted it (DELETE /auth/account, the /account/delete page, Apple's account-delete notification, an operator
-- by hand), and kept as long as an export of the old backend may exist; billing's table has another use (store
-- purchases restored by another account) and may be pruned on its own terms.
create table deleted_accounts (
    id_sha256 text primary key check (id_sha256 ~ '^[0-9a-f]{64}$'),
    deleted_at timestamptz not null default now()
);

create function cookcam_record_deleted_accounts() returns trigger language plpgsql as $$
begin
    insert into deleted_accounts (id_sha256)
    select encode(sha256(convert_to(gone.id::text, 'UTF8')), 'hex') from gone
    on conflict do nothing;
    return null;
end $$;

create trigger users_deleted after delete on users
    referencing old table as gone
    for each statement execute function cookcam_record_deleted_accounts();

-- The deletions recorded before this migration: billing's tombstone has been written in every deletion's
-- transaction since migration 0041 and is in the same form.
insert into deleted_accounts (id_sha256, deleted_at)
select token_sha256, deleted_at from deleted_account_tokens
on conflict do nothing;
