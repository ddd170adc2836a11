"""The identity providers one worker verifies sign-ins with (Sign in with Apple and with Google), sharing one outbound
HTTP client for their published keys. Built by the lifespan, closed with it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from app.auth.apple_notifications import AccountEraser
from app.auth.apple_signin import AppleSignIn
from app.auth.google_signin import GoogleSignIn
from app.core.http import create_http_client
from app.settings import Settings


@dataclass(frozen=True)
class SignInProviders:
    google: GoogleSignIn
    apple: AppleSignIn
    # What an Apple ID's deletion does to an account it was the only way into (the wiring passes app.account's).
    erase_account: AccountEraser
    http: httpx.AsyncClient

    @classmethod
    def create(cls, settings: Settings, erase_account: AccountEraser) -> SignInProviders:
        http = create_http_client()
        return cls(
            google=GoogleSignIn(settings.google, settings.outbound, http),
            apple=AppleSignIn(settings.apple, settings.outbound, http),
            erase_account=erase_account,
            http=http,
        )

    async def close(self) -> None:
        await self.http.aclose()
