"""Reading the previous backend's Supabase exports: CSV from `psql \\copy (...) to ... csv header`, or JSON (an
array of objects, or the Admin API's `{"users": [...]}` page), told apart by their first character, never by the
file name. Every value is checked here, so that what reaches the database is typed and within its columns' bounds;
any unreadable row makes the whole import refuse (nothing is written) with the file, the line and the reason."""

from __future__ import annotations

import csv
import datetime
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from app.core.passwords import is_bcrypt

# Bounds of the users columns (migration 0001) the profile values must fit.
NAME_MAX = 100
AVATAR_URL_MAX = 2048
EMAIL_MAX = 320
SKILL_LEVELS = frozenset({"beginner", "intermediate", "advanced"})
XP_MAX = 2**31 - 1  # xp_ledger.amount is an integer
IMPORTED_PROVIDERS = frozenset({"apple", "google"})
REFRESH_TOKEN_MAX = 1024


class ExportError(Exception):
    """A file that cannot be read as an export at all (not CSV or JSON, missing columns)."""


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int  # CSV: the line of the row (the header is line 1); JSON: the position in the array, from 1
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class _Unreadable(Exception):
    pass


@dataclass(frozen=True)
class AuthUser:
    line: int
    id: uuid.UUID
    email: str | None  # lower-cased; None when the row has none
    password_hash: str | None  # bcrypt as Supabase stored it; none for Apple- or Google-only accounts
    email_verified: bool
    created_at: datetime.datetime
    meta_name: str | None
    meta_avatar_url: str | None
    deleted: bool
    banned: bool
    sso: bool
    identities: tuple[Identity, ...]  # the Admin API's users embed them


@dataclass(frozen=True)
class Profile:
    line: int
    id: uuid.UUID
    name: str | None
    avatar_url: str | None
    onboarding_completed: bool
    default_serving_size: int | None
    meal_prep_enabled: bool | None
    default_meal_prep_count: int | None
    kitchen_appliances: list[str]
    dietary_preferences: list[str]
    cuisine_preferences: list[str]
    cooking_skill_level: str | None
    total_xp: int


@dataclass(frozen=True)
class Identity:
    line: int
    user_id: uuid.UUID
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    created_at: datetime.datetime


T = TypeVar("T")


@dataclass(frozen=True)
class RefreshToken:
    line: int
    user_id: uuid.UUID
    token: str
    revoked: bool


@dataclass
class Read(Generic[T]):
    rows: list[T]
    problems: list[RowProblem]


# ---- files ----


def _records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line, record) for every row of a CSV or JSON export."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path}: is not UTF-8 text (byte {exc.start})") from None
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        yield from _json_records(path, text)
    elif start:
        yield from _csv_records(path, text)


def _json_records(path: Path, text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(document, dict) and isinstance(document.get("users"), list):
        document = document["users"]  # the Admin API's list page
    if not isinstance(document, list):
        raise ExportError(f'{path}: JSON must be an array of rows or an object {{"users": [...]}}')
    for position, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise ExportError(f"{path}: JSON item {position} is not an object")
        yield position, item


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        if len(set(header)) != len(header):
            raise ExportError(f"{path}: the CSV header names a column twice")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ExportError(
                    f"{path}: line {reader.line_num} has {len(row)} fields where the header has {len(header)}"
                )
            yield reader.line_num, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise ExportError(f"{path}: not valid CSV at line {reader.line_num}: {exc}") from None


def _read(path: Path, required: set[str], parse: Any) -> Read[T]:
    result: Read[T] = Read([], [])
    checked_columns = False
    for line, record in _records(path):
        if not checked_columns:
            missing = required - record.keys()
            if missing:
                raise ExportError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            checked_columns = True
        try:
            result.rows.append(parse(line, record))
        except _Unreadable as exc:
            result.problems.append(RowProblem(str(path), line, str(exc)))
    return result


# ---- values: strings from CSV, typed values from JSON ----


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Unreadable(f"{key} is not text")
    if "\x00" in value:
        raise _Unreadable(f"{key} contains a NUL byte")
    return value


def _uuid(record: Mapping[str, Any], key: str) -> uuid.UUID:
    value = _text(record, key)
    if value is None:
        raise _Unreadable(f"{key} is empty")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _Unreadable(f"{key} is not a UUID") from None


def _bool(record: Mapping[str, Any], key: str) -> bool | None:
    value = record.get(key)
    if isinstance(value, bool) or value is None:
        return value
    text = _text(record, key)
    if text is None:
        return None
    if text.lower() in ("t", "true"):
        return True
    if text.lower() in ("f", "false"):
        return False
    raise _Unreadable(f"{key} is not a boolean")


def _time(record: Mapping[str, Any], key: str) -> datetime.datetime | None:
    text = _text(record, key)
    if text is None:
        return None
    if text in ("infinity", "-infinity"):
        edge = datetime.datetime.max if text == "infinity" else datetime.datetime.min
        return edge.replace(tzinfo=datetime.UTC)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Unreadable(f"{key} is not a timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _int(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if isinstance(value, bool):
        raise _Unreadable(f"{key} is not an integer")
    if isinstance(value, int):
        return value
    text = _text(record, key)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise _Unreadable(f"{key} is not an integer") from None


def _object(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    if isinstance(value, dict):
        document: object = value
    else:
        text = _text(record, key)
        if text is None:
            return {}
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise _Unreadable(f"{key} is not valid JSON") from None
    if not isinstance(document, dict):
        raise _Unreadable(f"{key} is not a JSON object")
    return document


def _pg_array(text: str, key: str) -> list[str]:
    """A one-dimensional PostgreSQL text array literal, as psql writes it: {a,"b c",NULL}."""
    if not (text.startswith("{") and text.endswith("}")):
        raise _Unreadable(f"{key} is not an array")
    items: list[str] = []
    body, i = text[1:-1], 0
    while i < len(body):
        if body[i] == '"':
            value, i = [], i + 1
            while i < len(body) and body[i] != '"':
                if body[i] == "\\":
                    i += 1
                if i < len(body):
                    value.append(body[i])
                i += 1
            if i >= len(body):
                raise _Unreadable(f"{key} is not an array (unclosed quote)")
            items.append("".join(value))
            i += 1
        else:
            end = body.find(",", i)
            end = len(body) if end == -1 else end
            word = body[i:end].strip()
            if word.startswith("{"):
                raise _Unreadable(f"{key} is not a one-dimensional array")
            if word.upper() != "NULL":
                items.append(word)
            i = end
        if i < len(body):
            if body[i] != ",":
                raise _Unreadable(f"{key} is not an array")
            i += 1
    return items


def _strings(record: Mapping[str, Any], key: str) -> list[str]:
    value = record.get(key)
    if isinstance(value, list):
        items = value
    else:
        text = _text(record, key)
        items = [] if text is None else _pg_array(text, key)
    if not all(isinstance(item, str) for item in items):
        raise _Unreadable(f"{key} holds something other than text")
    if any("\x00" in item for item in items):
        raise _Unreadable(f"{key} contains a NUL byte")
    return [item for item in items if item]


def _meta_text(meta: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value.strip() and "\x00" not in value:
            return value.strip()
    return None


def _in_range(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


# ---- the three exports ----


def _identity(line: int, record: Mapping[str, Any], user_id: uuid.UUID | None = None) -> Identity | None:
    provider = (_text(record, "provider") or "").lower()
    data = _object(record, "identity_data")
    if provider not in IMPORTED_PROVIDERS:
        return None  # 'email' identities are the account itself; other providers are not offered here
    subject = _text(record, "provider_id") or _meta_text(data, "sub")
    if subject is None or len(subject) > 255:
        raise _Unreadable("the identity has no provider_id (or identity_data.sub) of at most 255 characters")
    email = _meta_text(data, "email")
    verified = data.get("email_verified")
    return Identity(
        line=line,
        user_id=user_id or _uuid(record, "user_id"),
        provider=provider,
        subject=subject,
        email=email.lower() if email and len(email) <= EMAIL_MAX else None,
        email_verified=verified is True or (isinstance(verified, str) and verified.lower() == "true"),
        created_at=_time(record, "created_at") or datetime.datetime.now(datetime.UTC),
    )


def _auth_user(line: int, record: Mapping[str, Any]) -> AuthUser:
    user_id = _uuid(record, "id")
    email = _text(record, "email")
    if email is not None:
        email = email.strip().lower()
        if len(email) > EMAIL_MAX or "@" not in email:
            raise _Unreadable("email is not an email address")
    password = _text(record, "encrypted_password")
    if password is not None and not is_bcrypt(password):
        raise _Unreadable("encrypted_password is not a bcrypt hash")
    meta = _object(record, "raw_user_meta_data" if "raw_user_meta_data" in record else "user_metadata")
    banned_until = _time(record, "banned_until")
    embedded = record.get("identities")
    identities: list[Identity] = []
    if isinstance(embedded, list):
        for item in embedded:
            if not isinstance(item, dict):
                raise _Unreadable("identities holds something other than objects")
            identity = _identity(line, item, user_id)
            if identity is not None:
                identities.append(identity)
    return AuthUser(
        line=line,
        id=user_id,
        email=email,
        password_hash=password or None,
        email_verified=_time(record, "email_confirmed_at") is not None,
        created_at=_time(record, "created_at") or datetime.datetime.now(datetime.UTC),
        meta_name=_meta_text(meta, "full_name", "name"),
        meta_avatar_url=_meta_text(meta, "avatar_url", "picture"),
        deleted=_time(record, "deleted_at") is not None,
        banned=banned_until is not None and banned_until > datetime.datetime.now(datetime.UTC),
        sso=bool(_bool(record, "is_sso_user")) or bool(_bool(record, "is_anonymous")),
        identities=tuple(identities),
    )


def _profile(line: int, record: Mapping[str, Any]) -> Profile:
    skill = _text(record, "cooking_skill_level")
    total_xp = _int(record, "total_xp") or 0
    if not 0 <= total_xp <= XP_MAX:
        raise _Unreadable(f"total_xp is outside 0..{XP_MAX}")
    return Profile(
        line=line,
        id=_uuid(record, "id"),
        name=_text(record, "name") or _text(record, "full_name"),
        avatar_url=_text(record, "avatar_url"),
        onboarding_completed=bool(_bool(record, "onboarding_completed")),
        default_serving_size=_in_range(_int(record, "default_serving_size"), 1, 50),
        meal_prep_enabled=_bool(record, "meal_prep_enabled"),
        default_meal_prep_count=_in_range(_int(record, "default_meal_prep_count"), 1, 21),
        kitchen_appliances=_strings(record, "kitchen_appliances"),
        dietary_preferences=_strings(record, "dietary_preferences"),
        cuisine_preferences=_strings(record, "cuisine_preferences"),
        cooking_skill_level=skill if skill in SKILL_LEVELS else None,
        total_xp=total_xp,
    )


def _identity_row(line: int, record: Mapping[str, Any]) -> Identity | None:
    return _identity(line, record)


def read_auth_users(path: Path) -> Read[AuthUser]:
    return _read(path, {"id", "email"}, _auth_user)


def read_profiles(path: Path) -> Read[Profile]:
    return _read(path, {"id"}, _profile)


def _refresh_token(line: int, record: Mapping[str, Any]) -> RefreshToken:
    token = _text(record, "token")
    if token is None or len(token) > REFRESH_TOKEN_MAX:
        raise _Unreadable(f"token is empty or longer than {REFRESH_TOKEN_MAX} characters")
    return RefreshToken(line, _uuid(record, "user_id"), token, bool(_bool(record, "revoked")))


def read_refresh_tokens(path: Path) -> Read[RefreshToken]:
    return _read(path, {"token", "user_id", "revoked"}, _refresh_token)


def read_identities(path: Path) -> Read[Identity | None]:
    return _read(path, {"provider", "user_id"}, _identity_row)


# ---- the old backend's subscriptions (provider bindings; their tier and status are never trusted) ----

BILLING_PROVIDERS = {
    "stripe": "stripe",
    "apple": "apple",
    "app_store": "apple",
    "appstore": "apple",
    "ios": "apple",
    "google": "google",
    "google_play": "google",
    "play_store": "google",
    "android": "google",
}
PROVIDER_ID_MAX = 1000  # imported_billing_bindings.provider_subscription_id (migration 0035)
STRIPE_CUSTOMER_MAX = 100  # stripe_customers.customer_id (migration 0004)
# The columns each provider's id may come in, the first present wins (the old backend's naming varied).
SUBSCRIPTION_ID_COLUMNS = {
    "stripe": ("stripe_subscription_id", "subscription_id"),
    "apple": ("original_transaction_id", "apple_original_transaction_id"),
    "google": ("purchase_token", "google_purchase_token"),
}
STRIPE_CUSTOMER_COLUMNS = ("stripe_customer_id", "customer_id")


@dataclass(frozen=True)
class SubscriptionBinding:
    line: int
    user_id: uuid.UUID
    provider: str  # stripe | apple | google
    subscription_id: str  # Stripe subscription id, Apple original transaction id, Google purchase token
    stripe_customer_id: str | None
    environment: str  # production | sandbox


def _first_text(record: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = _text(record, key)
        if value is not None and value.strip():
            return value.strip()
    return None


def _subscription(line: int, record: Mapping[str, Any]) -> SubscriptionBinding:
    user_id = _uuid(record, "user_id")
    name = (_text(record, "provider") or "").strip().lower()
    provider = BILLING_PROVIDERS.get(name)
    if provider is None:
        raise _Unreadable("provider is not stripe, apple or google")
    subscription_id = _first_text(record, SUBSCRIPTION_ID_COLUMNS[provider])
    if subscription_id is None or len(subscription_id) > PROVIDER_ID_MAX:
        columns = " or ".join(SUBSCRIPTION_ID_COLUMNS[provider])
        raise _Unreadable(f"a {provider} row needs {columns} (at most {PROVIDER_ID_MAX} characters)")
    customer = _first_text(record, STRIPE_CUSTOMER_COLUMNS) if provider == "stripe" else None
    if customer is not None and len(customer) > STRIPE_CUSTOMER_MAX:
        raise _Unreadable(f"stripe_customer_id is longer than {STRIPE_CUSTOMER_MAX} characters")
    environment = (_text(record, "environment") or "production").strip().lower()
    if environment not in ("production", "sandbox"):
        raise _Unreadable("environment is not production or sandbox")
    return SubscriptionBinding(line, user_id, provider, subscription_id, customer, environment)


def read_subscriptions(path: Path) -> Read[SubscriptionBinding]:
    return _read(path, {"user_id", "provider"}, _subscription)
