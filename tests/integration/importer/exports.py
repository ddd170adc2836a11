"""Supabase export files as psql (`\\copy ... csv header`) and the Admin API write them, for the import tests."""

from __future__ import annotations

import csv
import json
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


def identity_row(user_id: str, provider: str, subject: str, email: str = "relay@privaterelay.appleid.com") -> dict:
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


def write_exports(directory: Path, accounts: Sequence[OldAccount], identities: Sequence[dict] = ()) -> Exports:
    return Exports(
        auth_users=write_csv(directory / "auth_users.csv", AUTH_USER_COLUMNS, [a.auth_row() for a in accounts]),
        profiles=write_csv(directory / "profiles.csv", PROFILE_COLUMNS, [a.profile_row() for a in accounts]),
        identities=write_csv(directory / "identities.csv", IDENTITY_COLUMNS, list(identities)),
    )
