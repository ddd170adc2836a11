"""`cookcam import supabase`: the previous backend's accounts, with their ids, into users, user_identities and the
XP ledger, in one transaction (rolled back by --dry-run, so its counts are the real ones).

The rows are checked first (app/importer/exports.py); one unreadable row stops the import before anything is
written. Then they are copied into staging tables (migration 0032) in batches and moved by a few set-based
statements, so 100,000 accounts take seconds, not one round trip each. Nothing here is overwritten: an id held by
another email, or an email held by another id, is a conflict, reported; an account already imported with the same
id and email is counted as such, and a second run changes nothing. An account deleted here since an earlier run
(migration 0045's tombstone) is skipped with everything of it (identities, refresh tokens, subscription bindings,
XP): a run after the switch never brings back what its owner erased.

The importer writes rows of several domains (users and identities of auth, the XP ledger of gamification) through
its own generated statements, the way a migration would; it imports no domain.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.tokens import hash_refresh_token
from app.db.queries import supabase_import as q
from app.db.types import Connection
from app.importer.exports import (
    AVATAR_URL_MAX,
    NAME_MAX,
    AuthUser,
    Identity,
    Profile,
    RefreshToken,
    RowProblem,
    SubscriptionBinding,
    read_auth_users,
    read_identities,
    read_profiles,
    read_refresh_tokens,
    read_subscriptions,
)

BATCH_ROWS = 5000

# Exit codes of `cookcam import supabase` (README, the runbook).
EXIT_OK = 0
EXIT_CONFLICTS = 1
EXIT_UNREADABLE = 4
EXIT_DELETED_MEANWHILE = 5

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ExportFiles:
    auth_users: Path
    profiles: Path
    identities: Path | None = None
    refresh_tokens: Path | None = None
    subscriptions: Path | None = None


@dataclass
class ImportSummary:
    dry_run: bool
    accounts_read: int = 0
    imported: int = 0
    already_imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    conflicts: list[str] = field(default_factory=list)
    identities_imported: int = 0
    identities_already: int = 0
    identities_skipped: Counter[str] = field(default_factory=Counter)
    xp_balances_opened: int = 0
    profiles_without_account: int = 0
    refresh_tokens_imported: int = 0
    refresh_tokens_already: int = 0
    refresh_tokens_skipped: Counter[str] = field(default_factory=Counter)
    bindings_imported: int = 0
    bindings_already: int = 0
    bindings_skipped: Counter[str] = field(default_factory=Counter)
    stripe_customers_bound: int = 0
    unreadable: list[RowProblem] = field(default_factory=list)
    # Accounts deleted here while this run was writing (after it had read the tombstones): the run rolled back.
    deleted_meanwhile: int = 0

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        if self.deleted_meanwhile:
            return EXIT_DELETED_MEANWHILE
        return EXIT_CONFLICTS if self.conflicts else EXIT_OK

    def lines(self, most: int = 50) -> list[str]:
        if self.unreadable:
            shown = [f"  {problem}" for problem in self.unreadable[:most]]
            more = len(self.unreadable) - len(shown)
            return [
                f"Nothing imported: {len(self.unreadable)} unreadable row(s).",
                *shown,
                *([f"  ... and {more} more"] if more else []),
            ]
        if self.deleted_meanwhile:
            return [
                f"Nothing imported: {self.deleted_meanwhile} account(s) of the export were deleted here while the "
                "import ran; run it again (it skips them)."
            ]
        head = "Dry run (rolled back, nothing written): " if self.dry_run else ""
        lines = [
            f"{head}{self.accounts_read} account row(s) read.",
            f"  imported: {self.imported}",
            f"  already imported: {self.already_imported}",
            *(f"  skipped ({reason}): {count}" for reason, count in sorted(self.skipped.items()) if count),
            f"  conflicts: {len(self.conflicts)}",
            f"  identities imported: {self.identities_imported}, already there: {self.identities_already}",
            *(
                f"  identities skipped ({reason}): {count}"
                for reason, count in sorted(self.identities_skipped.items())
                if count
            ),
            f"  opening XP balances: {self.xp_balances_opened}",
            *(
                [f"  profile rows without an account row: {self.profiles_without_account}"]
                if self.profiles_without_account
                else []
            ),
            f"  refresh tokens imported: {self.refresh_tokens_imported}, already there: {self.refresh_tokens_already}",
            *(
                f"  refresh tokens skipped ({reason}): {count}"
                for reason, count in sorted(self.refresh_tokens_skipped.items())
                if count
            ),
            f"  subscription bindings imported (pending the provider's answer): {self.bindings_imported}, "
            f"already there: {self.bindings_already}; Stripe customers bound: {self.stripe_customers_bound}",
            *(
                f"  subscription bindings skipped ({reason}): {count}"
                for reason, count in sorted(self.bindings_skipped.items())
                if count
            ),
        ]
        lines += [f"  conflict: {conflict}" for conflict in self.conflicts[:most]]
        if len(self.conflicts) > most:
            lines.append(f"  ... and {len(self.conflicts) - most} more conflict(s)")
        return lines


class _RollBack(Exception):
    pass


def _name(user: AuthUser, profile: Profile | None, email: str) -> str:
    for candidate in (profile.name if profile else None, user.meta_name, email.split("@", 1)[0]):
        if candidate and candidate.strip():
            return candidate.strip()[:NAME_MAX]
    return "CookCam cook"


def _avatar(user: AuthUser, profile: Profile | None) -> str | None:
    url = (profile.avatar_url if profile else None) or user.meta_avatar_url
    return url if url and len(url) <= AVATAR_URL_MAX else None


def _staged_account(
    run_id: uuid.UUID, user: AuthUser, email: str, profile: Profile | None
) -> q.StageSupabaseAccountsParams:
    return q.StageSupabaseAccountsParams(
        run_id=run_id,
        line=user.line,
        id=user.id,
        email=email,
        password_hash=user.password_hash,
        email_verified=user.email_verified,
        name=_name(user, profile, email),
        avatar_url=_avatar(user, profile),
        onboarding_completed=profile.onboarding_completed if profile else False,
        default_serving_size=profile.default_serving_size if profile else None,
        meal_prep_enabled=profile.meal_prep_enabled if profile else None,
        default_meal_prep_count=profile.default_meal_prep_count if profile else None,
        kitchen_appliances=profile.kitchen_appliances if profile else [],
        dietary_preferences=profile.dietary_preferences if profile else [],
        cuisine_preferences=profile.cuisine_preferences if profile else [],
        cooking_skill_level=profile.cooking_skill_level if profile else None,
        total_xp=profile.total_xp if profile else 0,
        created_at=user.created_at,
    )


def _duplicate_ids(rows: Sequence[AuthUser | Profile], file: Path) -> list[RowProblem]:
    seen: dict[uuid.UUID, int] = {}
    problems = []
    for row in rows:
        if row.id in seen:
            problems.append(RowProblem(str(file), row.line, f"id {row.id} already on line {seen[row.id]}"))
        seen.setdefault(row.id, row.line)
    return problems


def _staged_identity(run_id: uuid.UUID, identity: Identity) -> q.StageSupabaseIdentitiesParams:
    return q.StageSupabaseIdentitiesParams(
        run_id=run_id,
        line=identity.line,
        account_id=identity.user_id,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
        created_at=identity.created_at,
    )


@dataclass
class _Plan:
    accounts: list[q.StageSupabaseAccountsParams]
    identities: list[q.StageSupabaseIdentitiesParams]
    refresh_tokens: list[RefreshToken]
    subscriptions: list[SubscriptionBinding]
    # The accounts of the export deleted here since an earlier run: nothing of theirs is written.
    deleted_here: set[uuid.UUID] = field(default_factory=set)


def _plan(run_id: uuid.UUID, files: ExportFiles, summary: ImportSummary) -> _Plan | None:
    users = read_auth_users(files.auth_users)
    profiles = read_profiles(files.profiles)
    identity_rows = read_identities(files.identities) if files.identities else None
    tokens = read_refresh_tokens(files.refresh_tokens) if files.refresh_tokens else None
    summary.unreadable += users.problems + profiles.problems + (identity_rows.problems if identity_rows else [])
    summary.unreadable += tokens.problems if tokens else []
    bindings = read_subscriptions(files.subscriptions) if files.subscriptions else None
    summary.unreadable += bindings.problems if bindings else []
    summary.unreadable += _duplicate_ids(users.rows, files.auth_users) + _duplicate_ids(profiles.rows, files.profiles)
    if summary.unreadable:
        return None
    summary.accounts_read = len(users.rows)
    profile_of = {profile.id: profile for profile in profiles.rows}
    summary.profiles_without_account = len(profile_of.keys() - {user.id for user in users.rows})
    accounts: list[q.StageSupabaseAccountsParams] = []
    owner_line: dict[str, int] = {}
    identities: list[Identity] = []
    for user in users.rows:
        identities += user.identities
        if user.deleted:
            summary.skipped["deleted"] += 1
        elif user.banned:
            summary.skipped["banned"] += 1
        elif user.sso:
            summary.skipped["sso or anonymous"] += 1
        elif user.email is None:
            summary.skipped["no email"] += 1
        elif user.email in owner_line:
            summary.conflicts.append(
                f"{files.auth_users}:{user.line}: account {user.id} has the email of line {owner_line[user.email]} "
                "(differing in case at most); not imported"
            )
        else:
            owner_line[user.email] = user.line
            accounts.append(_staged_account(run_id, user, user.email, profile_of.get(user.id)))
    for row in identity_rows.rows if identity_rows else []:
        if row is None:
            summary.identities_skipped["not apple or google"] += 1
        else:
            identities.append(row)
    staged_ids = {account.id for account in accounts}
    staged_identities = [
        _staged_identity(run_id, identity) for identity in identities if identity.user_id in staged_ids
    ]
    summary.identities_skipped["account not imported"] += len(identities) - len(staged_identities)
    live_tokens = [token for token in (tokens.rows if tokens else []) if not token.revoked]
    summary.refresh_tokens_skipped["revoked"] += len(tokens.rows if tokens else []) - len(live_tokens)
    return _Plan(accounts, staged_identities, live_tokens, bindings.rows if bindings else [])


async def _skip_deleted_here(conn: Connection, plan: _Plan, summary: ImportSummary) -> None:
    """Leave out the accounts deleted here (and their identities): never recreated, never updated."""
    plan.deleted_here = set(await q.find_deleted_accounts(conn, ids=[account.id for account in plan.accounts]))
    if not plan.deleted_here:
        return
    summary.skipped["deleted here"] += len(plan.deleted_here)
    plan.accounts = [account for account in plan.accounts if account.id not in plan.deleted_here]
    identities = [identity for identity in plan.identities if identity.account_id not in plan.deleted_here]
    summary.identities_skipped["account deleted here"] += len(plan.identities) - len(identities)
    plan.identities = identities


def _count_absent(skipped: Counter[str], owners: Iterable[uuid.UUID], plan: _Plan, present: set[uuid.UUID]) -> None:
    """Rows of accounts that are not here: deleted here since an earlier run, or not imported."""
    for owner in owners:
        if owner in plan.deleted_here:
            skipped["account deleted here"] += 1
        elif owner not in present:
            skipped["account not imported"] += 1


async def _stage(
    copy: Callable[..., Awaitable[int]], conn: Connection, rows: Sequence[Any], phase: str, progress: Progress
) -> None:
    for start in range(0, len(rows), BATCH_ROWS):
        await copy(conn, rows=rows[start : start + BATCH_ROWS])
        progress(phase, min(start + BATCH_ROWS, len(rows)), len(rows))


async def _move_accounts(conn: Connection, run_id: uuid.UUID, plan: _Plan, summary: ImportSummary) -> set[uuid.UUID]:
    """Insert the staged accounts nobody holds; classify the others. Returns the ids present with their email."""
    existing = {row.id: row for row in await q.find_existing_imported_accounts(conn, run_id=run_id)}
    inserted = set(await q.insert_staged_accounts(conn, run_id=run_id))
    summary.imported = len(inserted)
    present = set(inserted)
    for account in plan.accounts:
        if account.id in inserted:
            continue
        found = existing.get(account.id)
        if found is not None and found.id_email is not None and found.id_email.lower() == account.email:
            summary.already_imported += 1
            present.add(account.id)
        elif found is not None and found.id_email is not None:
            summary.conflicts.append(f"line {account.line}: account {account.id} exists here with another email")
        elif found is not None and found.email_owner is not None:
            summary.conflicts.append(
                f"line {account.line}: account {account.id}'s email belongs to account {found.email_owner} here"
            )
        else:
            summary.conflicts.append(f"line {account.line}: account {account.id} was taken meanwhile")
    return present


async def _move_identities(
    conn: Connection, run_id: uuid.UUID, plan: _Plan, present: set[uuid.UUID], summary: ImportSummary
) -> None:
    bound = {
        (row.provider, row.subject): row.bound_to
        for row in await q.find_existing_imported_identities(conn, run_id=run_id)
    }
    inserted = {(row.provider, row.subject) for row in await q.insert_staged_identities(conn, run_id=run_id)}
    counted: set[tuple[str, str]] = set()
    for identity in plan.identities:
        key = (identity.provider, identity.subject)
        if identity.account_id not in present:
            summary.identities_skipped["account not imported"] += 1
        elif key in counted:
            summary.identities_skipped["repeated in the export"] += 1
        elif key in inserted:
            summary.identities_imported += 1
        elif bound.get(key) == identity.account_id:
            summary.identities_already += 1
        else:
            summary.conflicts.append(
                f"identities line {identity.line}: the {identity.provider} identity of account {identity.account_id} "
                "is bound to another account here"
            )
        counted.add(key)


async def _move_refresh_tokens(
    conn: Connection, plan: _Plan, present: set[uuid.UUID], summary: ImportSummary, progress: Progress
) -> None:
    """Store the sha256 of each live refresh token of an account that is here (never the token itself)."""
    tokens = [token for token in plan.refresh_tokens if token.user_id in present]
    _count_absent(summary.refresh_tokens_skipped, (token.user_id for token in plan.refresh_tokens), plan, present)
    hashes = {hash_refresh_token(token.token): token.user_id for token in tokens}
    if len(tokens) > len(hashes):
        summary.refresh_tokens_skipped["repeated in the export"] += len(tokens) - len(hashes)
    pairs = list(hashes.items())
    for start in range(0, len(pairs), BATCH_ROWS):
        batch = pairs[start : start + BATCH_ROWS]
        added = await q.import_refresh_tokens(
            conn, token_hashes=[pair[0] for pair in batch], user_ids=[pair[1] for pair in batch]
        )
        summary.refresh_tokens_imported += len(added)
        summary.refresh_tokens_already += len(batch) - len(added)
        progress("refresh tokens stored", min(start + BATCH_ROWS, len(pairs)), len(pairs))


def _binding_conflict(binding: SubscriptionBinding, what: str) -> str:
    # Names the line and the account, never the purchase token or transaction id.
    return f"subscriptions line {binding.line}: the {binding.provider} {what} of account {binding.user_id}"


async def _bind_stripe_customers(
    conn: Connection, bindings: list[SubscriptionBinding], summary: ImportSummary
) -> list[SubscriptionBinding]:
    """Bind each Stripe row's customer to its account in stripe_customers (the table checkout reuses), unless
    the customer or the account is bound otherwise here: a conflict, and that row's subscription is not bound."""
    with_customer = [b for b in bindings if b.provider == "stripe" and b.stripe_customer_id is not None]
    held = await q.find_stripe_customer_owners(
        conn,
        customer_ids=[b.stripe_customer_id for b in with_customer if b.stripe_customer_id],
        user_ids=[b.user_id for b in with_customer],
    )
    customer_of = {row.user_id: row.customer_id for row in held}
    owner_of = {row.customer_id: row.user_id for row in held}
    refused: set[int] = set()
    new: dict[uuid.UUID, str] = {}
    for binding in with_customer:
        customer = binding.stripe_customer_id
        assert customer is not None
        owner = owner_of.get(customer)
        current = customer_of.get(binding.user_id) or new.get(binding.user_id)
        if (owner is not None and owner != binding.user_id) or (current is not None and current != customer):
            summary.conflicts.append(_binding_conflict(binding, "customer") + " is bound otherwise here; not bound")
            refused.add(binding.line)
        elif owner is None and current is None:
            new[binding.user_id] = customer
            owner_of[customer] = binding.user_id
    if new:
        added = await q.import_stripe_customers(conn, user_ids=list(new), customer_ids=list(new.values()))
        summary.stripe_customers_bound = len(added)
    return [b for b in bindings if b.line not in refused]


async def _move_subscriptions(conn: Connection, plan: _Plan, present: set[uuid.UUID], summary: ImportSummary) -> None:
    """Attach the old backend's provider bindings to the accounts that are here, as pending bindings (migration
    0035) that reconciliation resolves with the provider. The old tier and status are not read: nothing is
    granted until the provider answers."""
    bindings = [b for b in plan.subscriptions if b.user_id in present]
    _count_absent(summary.bindings_skipped, (b.user_id for b in plan.subscriptions), plan, present)
    first: dict[tuple[str, str], SubscriptionBinding] = {}
    unique: list[SubscriptionBinding] = []
    for binding in bindings:
        key = (binding.provider, binding.subscription_id)
        seen = first.get(key)
        if seen is None:
            first[key] = binding
            unique.append(binding)
        elif seen.user_id == binding.user_id:
            summary.bindings_skipped["repeated in the export"] += 1
        else:
            summary.conflicts.append(
                _binding_conflict(binding, "subscription") + f" is the one of line {seen.line}; not bound"
            )
    held = await q.find_imported_binding_owners(
        conn, providers=[b.provider for b in unique], subscription_ids=[b.subscription_id for b in unique]
    )
    holder = {(row.provider, row.provider_subscription_id): row.held_by for row in held}
    fresh: list[SubscriptionBinding] = []
    for binding in unique:
        owner = holder.get((binding.provider, binding.subscription_id))
        if owner == binding.user_id:
            summary.bindings_already += 1
        elif owner is not None:
            summary.conflicts.append(_binding_conflict(binding, "subscription") + " is bound to another account here")
        else:
            fresh.append(binding)
    fresh = await _bind_stripe_customers(conn, fresh, summary)
    for start in range(0, len(fresh), BATCH_ROWS):
        batch = fresh[start : start + BATCH_ROWS]
        added = await q.import_billing_bindings(
            conn,
            providers=[b.provider for b in batch],
            subscription_ids=[b.subscription_id for b in batch],
            user_ids=[b.user_id for b in batch],
            stripe_customer_ids=[b.stripe_customer_id or "" for b in batch],
            environments=[b.environment for b in batch],
        )
        summary.bindings_imported += len(added)
        summary.bindings_already += len(batch) - len(added)


async def import_supabase(
    conn: Connection, files: ExportFiles, *, dry_run: bool = False, progress: Progress | None = None
) -> ImportSummary:
    """Read, check and import the exports; with `dry_run` everything runs and is rolled back."""
    report: Progress = progress or (lambda _phase, _done, _total: None)
    summary = ImportSummary(dry_run=dry_run)
    run_id = uuid.uuid4()
    plan = _plan(run_id, files, summary)
    if plan is None:
        return summary
    try:
        async with conn.transaction():
            await q.lock_supabase_import(conn)
            await _skip_deleted_here(conn, plan, summary)
            await _stage(q.stage_supabase_accounts, conn, plan.accounts, "accounts staged", report)
            await _stage(q.stage_supabase_identities, conn, plan.identities, "identities staged", report)
            present = await _move_accounts(conn, run_id, plan, summary)
            report("accounts written", len(present), len(plan.accounts))
            await _move_identities(conn, run_id, plan, present, summary)
            summary.xp_balances_opened = len(await q.open_staged_xp_balances(conn, run_id=run_id))
            await _move_refresh_tokens(conn, plan, present, summary, report)
            await _move_subscriptions(conn, plan, present, summary)
            await q.drop_staged_accounts(conn, run_id=run_id)
            await q.drop_staged_identities(conn, run_id=run_id)
            # A deletion that committed after the tombstones were read may have been undone by the insert: then
            # nothing of this run is kept.
            summary.deleted_meanwhile = len(await q.find_deleted_accounts(conn, ids=list(present)))
            if dry_run or summary.deleted_meanwhile:
                raise _RollBack
    except _RollBack:
        pass
    return summary
