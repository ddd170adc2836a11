"""`cookcam import supabase`, the service: what is carried, what is skipped, conflicts, idempotence, dry runs and
the JSON shapes; the imported accounts sign in with their old passwords."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from app.importer.exports import ExportError
from app.importer.supabase import EXIT_CONFLICTS, EXIT_OK, EXIT_UNREADABLE, ExportFiles, import_supabase
from tests.integration.importer.exports import (
    AUTH_USER_COLUMNS,
    PASSWORD,
    OldAccount,
    identity_row,
    write_csv,
    write_exports,
)
from tests.support import sign_up

AUTH = "/api/v1/auth"


def _files(exports, with_identities: bool = True) -> ExportFiles:
    return ExportFiles(exports.auth_users, exports.profiles, exports.identities if with_identities else None)


async def _snapshot(db: asyncpg.Connection) -> tuple:
    return (
        [tuple(r) for r in await db.fetch("select id, email, password_hash, name from users order by id")],
        [tuple(r) for r in await db.fetch("select user_id, provider, subject from user_identities order by subject")],
        [tuple(r) for r in await db.fetch("select user_id, action, amount from xp_ledger order by user_id")],
        [tuple(r) for r in await db.fetch("select user_id, total_xp from xp_totals order by user_id")],
        await db.fetchval("select coalesce(sum(users), 0) from xp_rank_counts"),
    )


async def test_import_carries_accounts_identities_and_xp(tmp_path: Path, db: asyncpg.Connection, client) -> None:
    ada = OldAccount(email="Ada@Example.com", total_xp=1234, meta={"full_name": "Ada Lovelace", "avatar_url": "x"})
    bob = OldAccount(meta={"name": "Bob"}, email_confirmed_at="", encrypted_password="")
    deleted = OldAccount(deleted_at="2024-05-01 00:00:00+00")
    banned = OldAccount(banned_until="2999-01-01 00:00:00+00")
    unbanned = OldAccount(banned_until="2020-01-01 00:00:00+00")
    no_email = OldAccount(email="")
    sso = OldAccount(is_sso_user="t")
    identities = [
        identity_row(ada.id, "apple", "001234.apple"),
        identity_row(bob.id, "google", "1098765"),
        identity_row(ada.id, "email", ada.id),
        identity_row(deleted.id, "google", "55555"),
    ]
    forever = OldAccount(banned_until="infinity")
    exports = write_exports(tmp_path, [ada, bob, deleted, banned, unbanned, no_email, sso, forever], identities)
    orphan = OldAccount().profile_row()
    with exports.profiles.open("a", newline="") as profiles:
        csv.DictWriter(profiles, fieldnames=list(orphan)).writerow(orphan)
    seen: list[tuple[str, int, int]] = []

    summary = await import_supabase(db, _files(exports), progress=lambda *step: seen.append(step))

    assert (summary.accounts_read, summary.imported, summary.already_imported) == (8, 3, 0)
    assert dict(summary.skipped) == {"deleted": 1, "banned": 2, "no email": 1, "sso or anonymous": 1}
    assert summary.profiles_without_account == 1
    assert "  profile rows without an account row: 1" in summary.lines()
    assert (summary.identities_imported, summary.conflicts, summary.exit_code) == (2, [], EXIT_OK)
    assert summary.identities_skipped["not apple or google"] == 1
    assert summary.identities_skipped["account not imported"] == 1
    assert summary.xp_balances_opened == 1
    assert ("accounts staged", 3, 3) in seen
    row = await db.fetchrow("select * from users where id = $1", uuid.UUID(ada.id))
    assert row["email"] == "ada@example.com" and row["email_verified"] is True and row["name"] == "Ada Lovelace"
    assert row["avatar_url"] == "https://cdn.example.com/a.png" and row["onboarding_completed"] is True
    assert row["kitchen_appliances"] == ["oven", "air fryer"] and row["dietary_preferences"] == ["vegetarian"]
    assert (row["default_serving_size"], row["default_meal_prep_count"], row["cooking_skill_level"]) == (
        4,
        5,
        "intermediate",
    )
    assert row["password_hash"].startswith("$2")
    assert str(row["created_at"]).startswith("2024-02-01")
    bob_row = await db.fetchrow(
        "select email_verified, name, password_hash from users where id = $1", uuid.UUID(bob.id)
    )
    assert (bob_row["email_verified"], bob_row["name"]) == (False, "Bob")
    assert {r["subject"]: str(r["user_id"]) for r in await db.fetch("select * from user_identities")} == {
        "001234.apple": ada.id,
        "1098765": bob.id,
    }
    # The old total is one ledger row and the all-time total only: no day, week or month gets it.
    ledger = await db.fetch("select action, amount from xp_ledger where user_id = $1", uuid.UUID(ada.id))
    assert [tuple(r) for r in ledger] == [("opening_balance", 1234)]
    assert await db.fetchval("select total_xp from xp_totals where user_id = $1", uuid.UUID(ada.id)) == 1234
    assert await db.fetchval("select count(*) from xp_period_totals") == 0
    counts = await db.fetch("select board, xp, sum(users) as users from xp_rank_counts group by 1, 2")
    assert [tuple(r) for r in counts] == [("allTime", 1234, 1)]
    assert await db.fetchval("select count(*) from supabase_import_accounts") == 0
    assert await db.fetchval("select count(*) from supabase_import_identities") == 0

    # The old password signs in (and becomes argon2id); the account without one cannot sign in with a password.
    ok = await client.post(AUTH + "/signin", json={"email": "ADA@example.com", "password": PASSWORD})
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["id"] == ada.id
    assert (await db.fetchval("select password_hash from users where id = $1", uuid.UUID(ada.id))).startswith(
        "$argon2id$"
    )
    no_password = await client.post(AUTH + "/signin", json={"email": bob.email, "password": PASSWORD})
    assert no_password.status_code == 401


async def test_a_second_run_changes_nothing_and_reports_everything_as_there(tmp_path: Path, db) -> None:
    accounts = [OldAccount(total_xp=50), OldAccount(total_xp=0)]
    exports = write_exports(tmp_path, accounts, [identity_row(accounts[0].id, "google", "g-1")])
    first = await import_supabase(db, _files(exports))
    assert (first.imported, first.identities_imported, first.xp_balances_opened) == (2, 1, 1)
    before = await _snapshot(db)

    second = await import_supabase(db, _files(exports))

    assert (second.imported, second.already_imported, second.conflicts) == (0, 2, [])
    assert (second.identities_imported, second.identities_already, second.xp_balances_opened) == (0, 1, 0)
    assert second.exit_code == EXIT_OK
    assert await _snapshot(db) == before


async def test_conflicts_are_reported_never_overwritten(tmp_path: Path, db: asyncpg.Connection, client) -> None:
    here = await sign_up(client, email="taken@example.com")
    same_id = OldAccount(id=here["user"]["id"], email="someone-else@example.com")
    same_email = OldAccount(email="TAKEN@example.com")
    first, by_case = OldAccount(email="twin@example.com"), OldAccount(email="Twin@Example.com")
    clean = OldAccount()
    bound_elsewhere = identity_row(clean.id, "apple", "apple-sub")
    await db.execute(
        "insert into user_identities (user_id, provider, subject) values ($1, 'apple', 'apple-sub')",
        uuid.UUID(here["user"]["id"]),
    )
    exports = write_exports(tmp_path, [same_id, same_email, first, by_case, clean], [bound_elsewhere])

    summary = await import_supabase(db, _files(exports))

    assert (summary.imported, summary.exit_code) == (2, EXIT_CONFLICTS)
    assert len(summary.conflicts) == 4, summary.conflicts
    joined = "\n".join(summary.conflicts)
    assert "exists here with another email" in joined and "email belongs to account" in joined
    assert "differing in case" in joined and "bound to another account" in joined
    assert "taken@example.com" not in joined.lower()  # ids and lines, not addresses
    assert await db.fetchval("select email from users where id = $1", same_id.id) == "taken@example.com"
    assert await db.fetchval("select count(*) from users where lower(email) = 'twin@example.com'") == 1
    assert await db.fetchval("select count(*) from users where id = $1", uuid.UUID(same_email.id)) == 0


async def test_dry_run_counts_like_the_real_run_and_writes_nothing(tmp_path: Path, db: asyncpg.Connection) -> None:
    exports = write_exports(tmp_path, [OldAccount(total_xp=10), OldAccount()], [])
    dry = await import_supabase(db, _files(exports), dry_run=True)
    assert (dry.dry_run, dry.imported, dry.xp_balances_opened) == (True, 2, 1)
    assert "Dry run" in dry.lines()[0]
    assert await _snapshot(db) == ([], [], [], [], 0)
    assert await db.fetchval("select count(*) from supabase_import_accounts") == 0
    real = await import_supabase(db, _files(exports))
    assert (real.imported, real.xp_balances_opened) == (dry.imported, dry.xp_balances_opened)


async def test_json_exports_are_recognised_by_content(tmp_path: Path, db: asyncpg.Connection) -> None:
    ada, bob = OldAccount(), OldAccount()
    # The Admin API's page: users with user_metadata and their identities embedded, under a .csv name.
    admin_page = {
        "users": [
            {
                "id": ada.id,
                "email": ada.email,
                "email_confirmed_at": "2024-03-01T10:00:00.123456Z",
                "user_metadata": {"name": "Ada J"},
                "created_at": "2024-02-01T09:00:00Z",
                "identities": [{"provider": "google", "identity_data": {"sub": "g-42", "email": ada.email}}],
            },
            {"id": bob.id, "email": bob.email, "encrypted_password": bob.encrypted_password, "banned_until": None},
        ]
    }
    (tmp_path / "users.csv").write_text(json.dumps(admin_page))
    profiles = [{**ada.profile_row(), "kitchen_appliances": ["wok"], "total_xp": 7, "onboarding_completed": True}]
    (tmp_path / "profiles.txt").write_text(json.dumps(profiles))

    summary = await import_supabase(db, ExportFiles(tmp_path / "users.csv", tmp_path / "profiles.txt"))

    assert (summary.imported, summary.identities_imported, summary.xp_balances_opened) == (2, 1, 1)
    row = await db.fetchrow(
        "select name, kitchen_appliances, email_verified from users where id = $1", uuid.UUID(ada.id)
    )
    assert tuple(row) == ("Ada J", ["wok"], True)
    assert await db.fetchval("select name from users where id = $1", uuid.UUID(bob.id)) == bob.email.split("@")[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('id,email\n"unclosed,x@example.com\n', "not valid CSV"),
        ("id,email\na,b,c\n", "has 3 fields where the header has 2"),
        ("uid,mail\nx,y\n", "missing column(s) email, id"),
        ('[{"id": ', "invalid JSON at line 1"),
        ('{"rows": []}', "must be an array"),
        ("[1, 2]", "JSON item 1 is not an object"),
        (b"\xff\xfe\x00i\x00d", "not UTF-8"),
    ],
)
async def test_unreadable_files_are_refused_before_anything_is_written(
    tmp_path: Path, db: asyncpg.Connection, content: str | bytes, message: str
) -> None:
    good = write_exports(tmp_path, [OldAccount()], [])
    bad = tmp_path / "bad_users"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ExportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await import_supabase(db, ExportFiles(bad, good.profiles))
    assert await db.fetchval("select count(*) from users") == 0


async def test_unreadable_rows_are_all_listed_and_nothing_is_written(tmp_path: Path, db: asyncpg.Connection) -> None:
    fine = OldAccount()
    rows = [
        fine.auth_row(),
        {**OldAccount().auth_row(), "id": "not-a-uuid"},
        {**OldAccount().auth_row(), "encrypted_password": "plaintext"},
        {**OldAccount().auth_row(), "raw_user_meta_data": "{not json"},
        {**OldAccount().auth_row(), "email_confirmed_at": "yesterday"},
        fine.auth_row(),
        {**OldAccount().auth_row(), "email": "nul\x00@example.com"},
    ]
    users = write_csv(tmp_path / "users.csv", AUTH_USER_COLUMNS, rows)
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps([{"id": fine.id, "name": "nul\u0000name"}, {"id": fine.id, "total_xp": -5}]))

    summary = await import_supabase(db, ExportFiles(users, profiles))

    assert summary.exit_code == EXIT_UNREADABLE
    reasons = [str(problem) for problem in summary.unreadable]
    assert any("users.csv:3: id is not a UUID" in r for r in reasons), reasons
    assert any("users.csv:4: encrypted_password is not a bcrypt hash" in r for r in reasons)
    assert any("users.csv:5: raw_user_meta_data is not valid JSON" in r for r in reasons)
    assert any("users.csv:6: email_confirmed_at is not a timestamp" in r for r in reasons)
    assert any("users.csv:7: id " in r and "already on line 2" in r for r in reasons)
    assert any("users.csv:8: email contains a NUL byte" in r for r in reasons)
    assert any("profiles.json:1: name contains a NUL byte" in r for r in reasons)
    assert any("profiles.json:2: total_xp is outside" in r for r in reasons)
    assert summary.lines()[0] == f"Nothing imported: {len(reasons)} unreadable row(s)."
    assert await db.fetchval("select count(*) from users") == 0
