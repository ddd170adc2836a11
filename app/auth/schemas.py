"""Request and response bodies of /auth (field names fixed by the mobile app's contract)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from app.auth.password_policy import MAX_LENGTH, MIN_LENGTH
from app.core import avatars
from app.db.queries.rows import Identity, User

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# A password being set: the policy's length (app/auth/password_policy.py; its other rules run in the service).
NewPassword = Annotated[str, msgspec.Meta(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
# A password being checked: any length up to the policy's maximum (older passwords may predate a rule).
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LENGTH)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
OpaqueToken = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
SkillLevel = Literal["beginner", "intermediate", "advanced"]


class SignupRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: NewPassword
    name: Name


class SigninRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: Password


class RefreshRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class SignoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: OpaqueToken | None = None


class ChangePasswordRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    current_password: Password
    new_password: NewPassword


# The token of a single-use link (reset, verification): 48 characters when intact; anything else up to 256 is
# accepted here and refused by the service with its own code.
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


# A provider's identity token (a JWT of about 1 KB): anything longer is refused by the schema, before any parsing.
IdentityToken = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]


class GoogleSignInRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id_token: IdentityToken


class AppleSignInRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    identity_token: IdentityToken
    # The raw nonce the app generated; the app passed its sha256 hex to Apple, and the token carries that hash.
    nonce: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    # The name Apple gives the app on the first sign-in only (never in the token); used when the account is created.
    name: Name | None = None


class AppleNotification(msgspec.Struct, frozen=True):
    """The body Apple posts to the server-to-server notification endpoint (further fields Apple may add are ignored)."""

    payload: IdentityToken


class ForgotPasswordRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email


class ResetPasswordRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: LinkToken
    new_password: NewPassword


class VerifyEmailRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: LinkToken


class ChangeEmailRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    new_email: Email
    password: Password


class Accepted(msgspec.Struct, frozen=True):
    """202: the request was taken; what follows arrives by email (the same answer whatever the address)."""

    message: str


class PreferencesUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the cooking preferences (PUT /users/preferences); unknown fields are refused."""

    default_serving_size: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    meal_prep_enabled: bool | None = None
    default_meal_prep_count: Annotated[int, msgspec.Meta(ge=1, le=21)] | None = None
    kitchen_appliances: Annotated[list[Tag], msgspec.Meta(max_length=50)] | None = None
    dietary_preferences: Annotated[list[Tag], msgspec.Meta(max_length=50)] | None = None
    cuisine_preferences: Annotated[list[Tag], msgspec.Meta(max_length=50)] | None = None
    cooking_skill_level: SkillLevel | None = None
    # An IANA time zone name (checked against the time zone database); cooking streaks count days in it.
    time_zone: (
        Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")] | None
    ) = None


class ProfileUpdate(PreferencesUpdate, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the editable fields: the preferences, and the name, avatar and onboarding flag (PUT
    /auth/profile and /users/profile); is_creator and tiers are never editable here (unknown fields are refused)."""

    name: Name | None = None
    # https on an allowed image host (SOCIAL_AVATAR_HOSTS, checked by the service), plain URL characters only.
    avatar_url: Annotated[str, msgspec.Meta(max_length=avatars.MAX_LENGTH, pattern=avatars.PATTERN)] | None = None
    onboarding_completed: bool | None = None


class Preferences(msgspec.Struct, frozen=True):
    """The cooking preferences of GET/PUT /users/preferences: the same fields as in User."""

    default_serving_size: int | None
    meal_prep_enabled: bool | None
    default_meal_prep_count: int | None
    kitchen_appliances: list[str]
    dietary_preferences: list[str]
    cuisine_preferences: list[str]
    cooking_skill_level: str | None
    time_zone: str


class AuthResponse(msgspec.Struct, frozen=True):
    user: User
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class SignInMethods(msgspec.Struct, frozen=True):
    """GET /auth/identities: whether the account has a password, and its Apple and Google identities."""

    password: bool
    identities: list[Identity]
