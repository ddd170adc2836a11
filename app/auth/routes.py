"""/api/v1/auth: typed in, typed out; the rules live in service.py."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from app.auth import apple_notifications, identities, recovery, service, social, verification
from app.auth.schemas import (
    Accepted,
    AppleNotification,
    AppleSignInRequest,
    AuthResponse,
    ChangeEmailRequest,
    ChangePasswordRequest,
    ForgotPasswordRequest,
    GoogleSignInRequest,
    Preferences,
    PreferencesUpdate,
    ProfileUpdate,
    RefreshRequest,
    ResetPasswordRequest,
    SignInMethods,
    SigninRequest,
    SignoutRequest,
    SignupRequest,
    VerifyEmailRequest,
)
from app.auth.service import Credentials
from app.auth.sign_in_providers import SignInProviders
from app.auth.throttle import Throttle, provide_throttle
from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.db.queries.rows import User
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

FORGOT_PASSWORD_ACCEPTED = "If an account uses this address, a link to reset its password is on its way."  # noqa: S105


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = {"throttle": Provide(provide_throttle, sync_to_thread=False)}

    @post("/signup", status_code=HTTP_201_CREATED, operation_id="signUp")
    async def signup(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        data: JSONBody[SignupRequest],
    ) -> AuthResponse:
        """Create an account with an email and a password and sign it in. 409 EMAIL_TAKEN when an account uses the
        address; the password policy applies (422 PASSWORD_TOO_COMMON, ...). Limited per address (429
        RATE_LIMITED)."""
        await throttle.count("signup", data.email)
        return await service.sign_up(connect, credentials, data)

    @post("/signin", status_code=200, operation_id="signIn")
    async def signin(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        data: JSONBody[SigninRequest],
    ) -> AuthResponse:
        """Sign in with an email and a password: an access token, a refresh token and the profile. 401
        INVALID_CREDENTIALS for an unknown address or a wrong password alike. Guesses are limited per account and
        per address (429 RATE_LIMITED)."""
        await throttle.count("signin", None, password_of=data.email)
        return await service.sign_in(connect, credentials, data)

    @post(
        "/google",
        status_code=200,
        operation_id="signInWithGoogle",
        responses={201: ResponseSpec(AuthResponse, description="A new account was created for this Google identity.")},
    )
    async def google(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        sign_in_providers: NamedDependency[SignInProviders],
        data: JSONBody[GoogleSignInRequest],
    ) -> Response[AuthResponse]:
        """Sign in with a Google ID token (Google Sign-In on the device; `aud` one of GOOGLE_SIGNIN_CLIENT_IDS).
        200 with the same body as /auth/signin when the identity signs in to an account it is bound to, or is linked
        to the account using its email (both verified); 201 when a new account without a password is created.
        401 GOOGLE_TOKEN_INVALID or GOOGLE_TOKEN_EXPIRED; 409 ACCOUNT_EMAIL_UNVERIFIED (an account uses the address
        but never verified it) or EMAIL_TAKEN (an account uses it and Google does not vouch for it); 422
        PROVIDER_EMAIL_MISSING; 503 GOOGLE_SIGNIN_UNCONFIGURED or GOOGLE_SIGNIN_UNAVAILABLE. Limited per address and
        per Google account like sign-in (429 RATE_LIMITED)."""
        await throttle.count("signin-google", None)
        identity = await sign_in_providers.google.verify(data.id_token)
        await throttle.count_account("signin-google", f"google:{identity.subject}")
        signed_in = await social.sign_in_with_identity(connect, credentials, identity)
        return Response(signed_in.auth, status_code=HTTP_201_CREATED if signed_in.created else 200)

    @post(
        "/apple",
        status_code=200,
        operation_id="signInWithApple",
        responses={201: ResponseSpec(AuthResponse, description="A new account was created for this Apple ID.")},
    )
    async def apple(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        sign_in_providers: NamedDependency[SignInProviders],
        data: JSONBody[AppleSignInRequest],
    ) -> Response[AuthResponse]:
        """Sign in with an Apple identity token (`aud` APPLE_BUNDLE_ID or one of APPLE_SIGNIN_SERVICE_IDS). Send
        `nonce` (the raw value whose sha256 hex the app gave Apple) to bind the token to this sign-in; without it
        no nonce is checked. `name` (Apple shares it once, at the first sign-in) names a new account. 200 as
        /auth/signin for a bound identity or one linked by a verified email (never a private-relay address); 201
        when a new account without a password is created. 401 APPLE_TOKEN_INVALID, APPLE_TOKEN_EXPIRED or
        APPLE_NONCE_MISMATCH; 409 ACCOUNT_EMAIL_UNVERIFIED or EMAIL_TAKEN; 422 PROVIDER_EMAIL_MISSING; 503
        APPLE_SIGNIN_UNAVAILABLE. Limited per address and per Apple account like sign-in (429 RATE_LIMITED)."""
        await throttle.count("signin-apple", None)
        identity = await sign_in_providers.apple.verify(data.identity_token, data.nonce, data.name)
        await throttle.count_account("signin-apple", f"apple:{identity.subject}")
        signed_in = await social.sign_in_with_identity(connect, credentials, identity)
        return Response(signed_in.auth, status_code=HTTP_201_CREATED if signed_in.created else 200)

    @post("/apple/notifications", status_code=HTTP_204_NO_CONTENT, operation_id="receiveAppleIdNotification")
    async def apple_notification(
        self,
        connect: NamedDependency[ConnectionSource],
        sign_in_providers: NamedDependency[SignInProviders],
        data: JSONBody[AppleNotification],
    ) -> None:
        """Apple's server-to-server notifications for Sign in with Apple (`{"payload": JWT}`, signed with Apple's
        JWKS keys, `aud` our bundle or Services id): email-disabled/-enabled record the relay address's forwarding;
        consent-revoked unlinks the Apple identity and ends every session of the account; account-delete removes
        the identity, and the account too when Apple was its only way in. Idempotent; unknown event types are
        accepted and ignored. 401 APPLE_TOKEN_INVALID for a payload Apple did not sign for us; 400
        APPLE_NOTIFICATION_INVALID for unreadable events."""
        await apple_notifications.handle_notification(
            connect, sign_in_providers.apple, sign_in_providers.erase_account, data.payload
        )

    @post("/refresh", status_code=200, operation_id="refreshTokens")
    async def refresh(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        data: JSONBody[RefreshRequest],
    ) -> AuthResponse:
        """Exchange a refresh token for a new pair; the token just spent, sent again within
        JWT_REFRESH_REUSE_GRACE_SECONDS while its successor is unspent, answers that successor again. Limited per
        session (RATELIMIT_REFRESH_PER_SESSION) and per address (RATELIMIT_REFRESH_PER_ADDRESS; 429 RATE_LIMITED,
        the token unspent). 401 REFRESH_TOKEN_INVALID, REFRESH_TOKEN_REUSED (a spent token sent again after the
        grace: the session ends), REFRESH_TOKEN_EXPIRED or SESSION_REVOKED."""
        await throttle.count_refresh(await service.session_of_refresh_token(connect, data.refresh_token))
        return await service.refresh(connect, credentials, data.refresh_token)

    @post(
        "/signout",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="signOut",
        dependencies={"caller": Provide(provide_caller)},
    )
    async def signout(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[SignoutRequest | None] = None,
    ) -> None:
        """End this session; with `refresh_token`, also the session of that token when it is the caller's."""
        await service.sign_out(db, caller, data.refresh_token if data else None)

    @post(
        "/signout-all",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="signOutEverywhere",
        dependencies={"caller": Provide(provide_caller)},
    )
    async def signout_all(self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> None:
        """End every session of the account, this one included: every access and refresh token stops working and
        open WebSockets are closed (`session.revoked`)."""
        await service.sign_out_everywhere(db, caller)

    @post(
        "/change-password",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="changePassword",
        # argon2id runs twice: no pooled connection is held meanwhile.
        dependencies={"caller": Provide(provide_caller_briefly)},
    )
    async def change_password(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[ChangePasswordRequest],
    ) -> None:
        """Set a new password (the password policy applies: 422 PASSWORD_TOO_COMMON, ...) after checking the current
        one (401 INVALID_PASSWORD; its guesses spend sign-in's budget per account and address, 429 RATE_LIMITED).
        Every other session ends; this one stays. A notice goes to the account's address."""
        await throttle.count("change-password", None, password_of=caller.user.email)
        await service.change_password(connect, credentials, caller, data)

    @post("/forgot-password", status_code=HTTP_202_ACCEPTED, operation_id="forgotPassword")
    async def forgot_password(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        data: JSONBody[ForgotPasswordRequest],
    ) -> Accepted:
        """Email a link to reset the password (valid 30 minutes, once; only the newest link works). The answer is
        the same 202 whether or not an account uses the address; limited per address and per email (429
        RATE_LIMITED)."""
        await throttle.count("forgot-password", data.email)
        await recovery.request_password_reset(connect, credentials, data.email)
        return Accepted(message=FORGOT_PASSWORD_ACCEPTED)

    @post("/reset-password", status_code=HTTP_204_NO_CONTENT, operation_id="resetPassword")
    async def reset_password(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        data: JSONBody[ResetPasswordRequest],
    ) -> None:
        """Set a new password with the token of a reset link: every session of the account ends. Refused with 400
        RESET_TOKEN_INVALID (damaged or altered), RESET_TOKEN_UNKNOWN (never issued, or replaced by a newer link),
        RESET_TOKEN_USED or RESET_TOKEN_EXPIRED; the password policy applies (422). Limited per address."""
        await throttle.count("reset-password", None)
        await recovery.reset_password(connect, credentials, data.token, data.new_password)

    @post("/verify-email", status_code=HTTP_204_NO_CONTENT, operation_id="verifyEmail")
    async def verify_email(
        self,
        connect: NamedDependency[ConnectionSource],
        throttle: NamedDependency[Throttle],
        data: JSONBody[VerifyEmailRequest],
    ) -> None:
        """Verify the address a verification link was sent to (valid 24 hours, once): `email_verified` becomes
        true, and for an email change the new address becomes the account's. Refused with 400
        VERIFICATION_TOKEN_INVALID, _UNKNOWN, _USED or _EXPIRED, or 409 EMAIL_TAKEN. Limited per address."""
        await throttle.count("verify-email", None)
        await verification.verify_email(connect, data.token)

    @post(
        "/resend-verification",
        status_code=HTTP_202_ACCEPTED,
        operation_id="resendVerification",
        dependencies={"caller": Provide(provide_caller_briefly)},
    )
    async def resend_verification(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        caller: NamedDependency[CurrentUser],
    ) -> Accepted:
        """Send a new verification link to the account's address (earlier links stop working); 409
        EMAIL_ALREADY_VERIFIED when it is verified. Limited per account and per address (429 RATE_LIMITED)."""
        await throttle.count("resend-verification", str(caller.id))
        await verification.resend_verification(connect, credentials, caller)
        return Accepted(message="A new verification link is on its way.")

    @post(
        "/change-email",
        status_code=HTTP_202_ACCEPTED,
        operation_id="changeEmail",
        # argon2id runs: no pooled connection is held meanwhile.
        dependencies={"caller": Provide(provide_caller_briefly)},
    )
    async def change_email(
        self,
        connect: NamedDependency[ConnectionSource],
        credentials: NamedDependency[Credentials],
        throttle: NamedDependency[Throttle],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[ChangeEmailRequest],
    ) -> Accepted:
        """Ask to move the account to a new address: needs the password (401 INVALID_PASSWORD). A verification link
        goes to the new address and a notice to the current one; the change takes effect only when the link is used
        (POST /auth/verify-email). 409 EMAIL_TAKEN or EMAIL_UNCHANGED; limited per account and per address."""
        await throttle.count("change-email", str(caller.id), password_of=caller.user.email)
        await verification.change_email(connect, credentials, caller, data)
        return Accepted(message="A link to confirm the new address is on its way; until then the current one stays.")

    @get("/identities", operation_id="listSignInMethods", dependencies={"caller": Provide(provide_caller)})
    async def list_identities(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]
    ) -> SignInMethods:
        """The ways this account signs in: `password` (false for an account made through Apple or Google until a
        reset link sets one) and each Apple or Google identity (provider, the email it reported, when it was linked
        and last used)."""
        return await identities.sign_in_methods(db, caller)

    @delete(
        "/identities/{provider:str}",
        status_code=200,
        operation_id="unlinkIdentity",
        dependencies={"caller": Provide(provide_caller)},
    )
    async def unlink_identity(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], provider: FromPath[str]
    ) -> SignInMethods:
        """Unlink the account's `apple` or `google` identity; answers the sign-in methods that remain. 404
        IDENTITY_NOT_FOUND when there is none; 409 LAST_SIGN_IN_METHOD when it is the only way left to sign in
        (no password and no other provider)."""
        return await identities.unlink(db, caller, provider)

    @get("/me", operation_id="getMe", dependencies={"caller": Provide(provide_caller)})
    async def me(self, caller: NamedDependency[CurrentUser]) -> User:
        """The signed-in account's profile."""
        return caller.user

    @put("/profile", operation_id="updateProfile", dependencies={"caller": Provide(provide_caller)})
    async def update_profile(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        settings: NamedDependency[Settings],
        data: JSONBody[ProfileUpdate],
    ) -> User:
        """Change any of the profile's fields; an avatar must be an https picture on one of SOCIAL_AVATAR_HOSTS (422
        AVATAR_URL_NOT_ALLOWED)."""
        return await service.update_profile(db, caller, data, settings.social.avatar_hosts)


class ProfileController(Controller):
    """The shipped app's /users/profile and /users/preferences: the same account, the same validation and the same
    service as /auth/me and /auth/profile."""

    path = "/api/v1/users"
    tags = ["users"]
    dependencies = {"caller": Provide(provide_caller)}

    @get("/profile", operation_id="getUserProfile")
    async def profile(self, caller: NamedDependency[CurrentUser]) -> User:
        """The signed-in account's profile, as /auth/me."""
        return caller.user

    @put("/profile", operation_id="updateUserProfile")
    async def update_profile(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        settings: NamedDependency[Settings],
        data: JSONBody[ProfileUpdate],
    ) -> User:
        """As PUT /auth/profile (422 AVATAR_URL_NOT_ALLOWED)."""
        return await service.update_profile(db, caller, data, settings.social.avatar_hosts)

    @get("/preferences", operation_id="getPreferences")
    async def preferences(self, caller: NamedDependency[CurrentUser]) -> Preferences:
        """The account's cooking preferences."""
        return service.preferences_of(caller.user)

    @put("/preferences", operation_id="updatePreferences")
    async def update_preferences(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[PreferencesUpdate]
    ) -> Preferences:
        """Any subset of the cooking preferences; time_zone (IANA, e.g. Europe/Paris) sets the day cooking streaks
        count in (UTC until the app sends one)."""
        return await service.update_preferences(db, caller, data)
