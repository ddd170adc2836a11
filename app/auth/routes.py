"""/api/v1/auth: typed in, typed out; the rules live in service.py."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.auth import service
from app.auth.schemas import (
    AccountExport,
    AuthResponse,
    DeleteAccountRequest,
    DeleteAccountResponse,
    LinkReferralRequest,
    LinkReferralResponse,
    ProfileUpdate,
    RefreshRequest,
    SigninRequest,
    SignoutRequest,
    SignupRequest,
    User,
)
from app.auth.service import CurrentUser
from app.auth.throttle import throttle
from app.core.dependencies import provide_caller, provide_client_address, services_from
from app.db.types import Connection


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = {"client_address": Provide(provide_client_address, sync_to_thread=False)}

    @post("/signup", status_code=HTTP_201_CREATED, operation_id="signUp")
    async def signup(
        self,
        state: State,
        client_address: NamedDependency[str],
        data: JSONBody[SignupRequest],
    ) -> AuthResponse:
        services = services_from(state)
        await throttle(services, "signup", address=client_address, account=data.email)
        return await service.sign_up(services.connection, services.credentials, data)

    @post("/signin", status_code=200, operation_id="signIn")
    async def signin(
        self,
        state: State,
        client_address: NamedDependency[str],
        data: JSONBody[SigninRequest],
    ) -> AuthResponse:
        services = services_from(state)
        await throttle(services, "signin", address=client_address, account=data.email)
        return await service.sign_in(services.connection, services.credentials, data)

    @post("/refresh", status_code=200, operation_id="refreshTokens")
    async def refresh(
        self,
        state: State,
        client_address: NamedDependency[str],
        data: JSONBody[RefreshRequest],
    ) -> AuthResponse:
        services = services_from(state)
        # The account is not known before the token is checked: the token itself names the bucket.
        await throttle(services, "refresh", address=client_address, account=data.refresh_token)
        return await service.refresh(services.connection, services.credentials, data.refresh_token)

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
        await service.sign_out(db, caller, data.refresh_token if data else None)

    @get("/me", operation_id="getMe", dependencies={"caller": Provide(provide_caller)})
    async def me(self, caller: NamedDependency[CurrentUser]) -> User:
        return caller.user

    @put("/profile", operation_id="updateProfile", dependencies={"caller": Provide(provide_caller)})
    async def update_profile(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[ProfileUpdate]
    ) -> User:
        return await service.update_profile(db, caller, data)

    @post(
        "/link-referral", status_code=200, operation_id="linkReferral", dependencies={"caller": Provide(provide_caller)}
    )
    async def link_referral(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[LinkReferralRequest]
    ) -> LinkReferralResponse:
        return LinkReferralResponse(linked=await service.link_referral(db, caller, data.referral_code))

    @delete("/account", status_code=200, operation_id="deleteAccount", dependencies={"caller": Provide(provide_caller)})
    async def delete_account(
        self,
        state: State,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[DeleteAccountRequest],
    ) -> DeleteAccountResponse:
        services = services_from(state)
        return await service.delete_account(
            db, services.credentials.passwords, services.payments.stripe.client, caller, data.confirm_password
        )

    @get("/export", operation_id="exportAccount", dependencies={"caller": Provide(provide_caller)})
    async def export(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]
    ) -> Response[AccountExport]:
        body = await service.export_account(db, caller)
        return Response(body, headers={"Content-Disposition": 'attachment; filename="cookcam-export.json"'})
