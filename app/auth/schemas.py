"""Request and response bodies of /auth (field names fixed by the mobile app's contract)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.billing.schemas import UserSubscription

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
NewPassword = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
OpaqueToken = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ReferralCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
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


class DeleteAccountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    confirm_password: Password


class LinkReferralRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    referral_code: ReferralCode


TimeZoneName = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")]


class ProfileUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Any subset of the editable fields; is_creator and tiers are never editable here (unknown fields are refused)."""

    name: Name | None = None
    avatar_url: Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://")] | None = None
    onboarding_completed: bool | None = None
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


class User(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    name: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: str | None
    onboarding_completed: bool
    default_serving_size: int | None
    meal_prep_enabled: bool | None
    default_meal_prep_count: int | None
    kitchen_appliances: list[str]
    dietary_preferences: list[str]
    cuisine_preferences: list[str]
    cooking_skill_level: str | None
    created_at: datetime.datetime
    time_zone: str  # IANA name; streaks count days in it


class AuthResponse(msgspec.Struct, frozen=True):
    user: User
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class DeleteAccountResponse(msgspec.Struct, frozen=True):
    message: str
    deleted_at: datetime.datetime
    # Store subscriptions keep charging until the user cancels them in the store: how to do that, one per store.
    store_subscriptions_to_cancel: list[str] = []


class LinkReferralResponse(msgspec.Struct, frozen=True):
    linked: bool


class AccountExport(msgspec.Struct, frozen=True):
    """Everything the user owns, as JSON; later capabilities add their sections here."""

    exported_at: datetime.datetime
    user: User
    sessions: list[dict[str, Any]]
    referral: dict[str, Any] | None
    # Follows both ways: whom the account follows and who follows it (the other account's id and when).
    follows: list[dict[str, Any]]
    subscriptions: list[UserSubscription]
    subscription_history: list[dict[str, Any]]
    # Every store purchase validation: outcome, product, environment (never the proof or its hash).
    purchase_validations: list[dict[str, Any]]
    # Scans (detected and corrected ingredients; images are not exported) and AI usage per day.
    scans: list[dict[str, Any]]
    ai_usage: list[dict[str, Any]]
    # Tracked analytics events (type, data, metadata, when): the newest 10,000.
    analytics_events: list[dict[str, Any]]
    # The account's own recipes, and its saves, favourites and ratings of any recipe.
    recipes: list[dict[str, Any]]
    recipe_activity: list[dict[str, Any]]
    # Every XP award (action, amount, what earned it, when); the total is their sum.
    xp_awards: list[dict[str, Any]]
    # The cooking streak as last stored (current, longest, first and last day, freeze tokens).
    streak: dict[str, Any] | None
    # Achievements unlocked (slug, when) and the cooking log (recipe, day) they count.
    achievements: list[dict[str, Any]]
    cooking_log: list[dict[str, Any]]
    # Live cooking sessions: those the account hosted, its participations, the invitations it received (the
    # inviting host's id) and the messages it wrote.
    live_sessions_hosted: list[dict[str, Any]]
    live_session_participations: list[dict[str, Any]]
    live_session_invitations: list[dict[str, Any]]
    live_session_messages: list[dict[str, Any]]
    # As a creator: affiliate links and the revenue-share ledger (earnings and reversals; no referred accounts).
    affiliate_links: list[dict[str, Any]]
    creator_earnings: list[dict[str, Any]]
    # Payouts (amount, status, reversed part, Stripe's refusal code, when) and the payout account's flags; no Stripe
    # ids, no provider messages.
    creator_payouts: list[dict[str, Any]]
    payout_account: dict[str, Any] | None
