"""Supabase export files as psql (`\\copy ... csv header`) and the Admin API write them, for the import tests, the
end-to-end run of docs/migration.md and the import benchmark (bench/supabase_import.py).

The column tuples are the ones docs/migration.md's export commands select (tests/e2e/test_migration_runbook.py
checks that they agree)."""

from __future__ import annotations

import csv
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

AUTH_USER_COLUMNS = (
    "id",
    "email",
    "encrypted_password",
    "email_confirmed_at",
    "raw_user_meta_data",
    "created_at",
    "banned_until",
    "deleted_at",
    "is_sso_user",
    "is_anonymous",
)
PROFILE_COLUMNS = (
    "id",
    "email",
    "name",
    "avatar_url",
    "onboarding_completed",
    "default_serving_size",
    "meal_prep_enabled",
    "default_meal_prep_count",
    "kitchen_appliances",
    "dietary_preferences",
    "cuisine_preferences",
    "cooking_skill_level",
    "total_xp",
)
IDENTITY_COLUMNS = ("provider_id", "user_id", "identity_data", "provider", "created_at")
REFRESH_TOKEN_COLUMNS = ("token", "user_id", "revoked", "created_at")
SUBSCRIPTION_COLUMNS = (
    "user_id",
    "provider",
    "stripe_customer_id",
    "stripe_subscription_id",
    "original_transaction_id",
    "purchase_token",
    "product_id",
    "environment",
)

# One real hash (cost 4 keeps the tests fast; the cost is read from the hash) shared by generated accounts.
PASSWORD = "old-supabase-password"
SHARED_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass
class OldAccount:
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    email: str = field(default_factory=lambda: f"old-{uuid.uuid4().hex[:12]}@example.com")
    encrypted_password: str = SHARED_HASH
    email_confirmed_at: str = "2024-03-01 10:00:00.123456+00"
    meta: dict[str, Any] = field(default_factory=lambda: {"full_name": "Old Cook"})
    created_at: str = "2024-02-01 09:00:00+00"
    banned_until: str = ""
    deleted_at: str = ""
    is_sso_user: str = "f"
    total_xp: int = 0
    appliances: str = '{oven,"air fryer"}'
    skill: str = "intermediate"

    def auth_row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "email": self.email,
            "encrypted_password": self.encrypted_password,
            "email_confirmed_at": self.email_confirmed_at,
            "raw_user_meta_data": json.dumps(self.meta),
            "created_at": self.created_at,
            "banned_until": self.banned_until,
            "deleted_at": self.deleted_at,
            "is_sso_user": self.is_sso_user,
            "is_anonymous": "f",
        }

    def profile_row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "email": self.email,
            "name": "",
            "avatar_url": "https://cdn.example.com/a.png",
            "onboarding_completed": "t",
            "default_serving_size": "4",
            "meal_prep_enabled": "t",
            "default_meal_prep_count": "5",
            "kitchen_appliances": self.appliances,
            "dietary_preferences": "{vegetarian}",
            "cuisine_preferences": "{}",
            "cooking_skill_level": self.skill,
            "total_xp": str(self.total_xp),
        }


def identity_row(
    user_id: str, provider: str, subject: str, email: str = "relay@privaterelay.appleid.com"
) -> dict[str, str]:
    data = {"sub": subject, "email": email, "email_verified": True}
    return {
        "provider_id": subject,
        "user_id": user_id,
        "identity_data": json.dumps(data),
        "provider": provider,
        "created_at": "2024-02-01 09:00:00+00",
    }


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Exports:
    auth_users: Path
    profiles: Path
    identities: Path


def write_exports(
    directory: Path, accounts: Sequence[OldAccount], identities: Sequence[dict[str, str]] = ()
) -> Exports:
    return Exports(
        auth_users=write_csv(directory / "auth_users.csv", AUTH_USER_COLUMNS, [a.auth_row() for a in accounts]),
        profiles=write_csv(directory / "profiles.csv", PROFILE_COLUMNS, [a.profile_row() for a in accounts]),
        identities=write_csv(directory / "identities.csv", IDENTITY_COLUMNS, list(identities)),
    )


@dataclass
class GeneratedExports:
    """The five export files of a synthetic old project, and what a test needs to act as its users."""

    auth_users: Path
    profiles: Path
    identities: Path
    refresh_tokens: Path
    subscriptions: Path
    account_ids: list[str]
    # The refresh token of every account that has one, by account id.
    refresh_token_of: dict[str, str]
    # The accounts the import brings (not deleted, banned or without an email), and the sum of their old XP.
    importable: int
    opening_xp: int

    def options(self) -> list[str]:
        """The file options of `cookcam import supabase`."""
        return [
            *("--auth-users", str(self.auth_users), "--profiles", str(self.profiles)),
            *("--identities", str(self.identities), "--refresh-tokens", str(self.refresh_tokens)),
            *("--subscriptions", str(self.subscriptions)),
        ]


SUBSCRIPTION_PROVIDERS = ("stripe", "app_store", "google_play")  # the old backend's names; the import maps them


def generate_exports(folder: Path, accounts: int, password_hashes: Sequence[str]) -> GeneratedExports:
    """Account n of `accounts`: hash `password_hashes[n % len]` (every tenth has none: an Apple/Google-only account),
    email unconfirmed when n % 7 == 0; deleted, banned now or without an email when n % 100 is 1, 2 or 3 (the import
    skips those); a Google identity when n % 3 == 0, an Apple one when n % 5 == 0; a profile with preferences and
    (n * 37) % 5000 XP; a live refresh token when n % 4 == 0; a subscription when n % 25 == 0, cycling through
    Stripe, the App Store and Google Play. Written with csv.writer in the column order of the export commands."""
    paths = [folder / name for name in ("auth_users.csv", "profiles.csv", "identities.csv")]
    paths += [folder / "refresh_tokens.csv", folder / "subscriptions.csv"]
    run = uuid.uuid4().hex[:8]
    ids = [str(uuid.uuid4()) for _ in range(accounts)]
    tokens: dict[str, str] = {}
    importable = opening_xp = 0
    files = [path.open("w", newline="") for path in paths]
    try:
        users, profiles, identities, refresh_tokens, subscriptions = (csv.writer(file) for file in files)
        for writer, columns in zip(
            (users, profiles, identities, refresh_tokens, subscriptions),
            (AUTH_USER_COLUMNS, PROFILE_COLUMNS, IDENTITY_COLUMNS, REFRESH_TOKEN_COLUMNS, SUBSCRIPTION_COLUMNS),
            strict=True,
        ):
            writer.writerow(columns)
        created = "2024-02-01 09:00:00+00"
        for n, user_id in enumerate(ids):
            skip = n % 100
            email = "" if skip == 3 else f"cook{n}-{run}@example.com"
            xp = (n * 37) % 5000
            if skip not in (1, 2, 3):
                importable += 1
                opening_xp += xp
            users.writerow(
                [
                    user_id,
                    email,
                    "" if n % 10 == 9 else password_hashes[n % len(password_hashes)],
                    "" if n % 7 == 0 else "2024-03-01 10:00:00.123456+00",
                    json.dumps({"full_name": f"Cook {n}", "avatar_url": f"https://cdn.example.com/{n}.png"}),
                    created,
                    "2999-01-01 00:00:00+00" if skip == 2 else "",
                    "2024-05-01 00:00:00+00" if skip == 1 else "",
                    "f",
                    "f",
                ]
            )
            profiles.writerow(
                [
                    user_id,
                    email,
                    "",
                    "",
                    "t",
                    "4",
                    "t",
                    "5",
                    '{oven,"air fryer"}',
                    "{vegetarian}",
                    "{italian}",
                    "intermediate",
                    xp,
                ]
            )
            if n % 3 == 0:
                identities.writerow([f"g-{n}-{run}", user_id, json.dumps({"sub": f"g-{n}-{run}"}), "google", created])
            if n % 5 == 0:
                data = {"sub": f"00{n}.{run}.apple", "email": f"{n}@privaterelay.appleid.com", "email_verified": True}
                identities.writerow([data["sub"], user_id, json.dumps(data), "apple", created])
            if n % 4 == 0:
                tokens[user_id] = secrets.token_urlsafe(12)
                refresh_tokens.writerow([tokens[user_id], user_id, "f", created])
            if n % 25 == 0:
                provider = SUBSCRIPTION_PROVIDERS[(n // 25) % 3]
                ids_of = {
                    "stripe": [f"cus_{run}{n}", f"sub_{run}{n}", "", "", ""],
                    "app_store": ["", "", f"2000{n:09d}", "", ""],
                    "google_play": ["", "", "", f"gp-{run}-{n}", "com.cookcam.pro.monthly"],
                }
                subscriptions.writerow([user_id, provider, *ids_of[provider], "production"])
    finally:
        for file in files:
            file.close()
    auth_users, profiles_file, identities_file, tokens_file, subscriptions_file = paths
    return GeneratedExports(
        auth_users, profiles_file, identities_file, tokens_file, subscriptions_file, ids, tokens, importable, opening_xp
    )
