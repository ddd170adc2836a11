"""The service account's OAuth access token for the Play Developer API (google-auth, minted in a thread), refreshed
when it expires or when Google refuses it early."""

from __future__ import annotations

import asyncio
import functools
import logging

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account

from app.billing.stores.google import errors
from app.settings import GoogleSettings, OutboundSettings

log = logging.getLogger("cookcam.billing.google")

ANDROIDPUBLISHER_SCOPE = "https://www.googleapis.com/auth/androidpublisher"


class ServiceAccountToken:
    """One worker's access token of the service account in GOOGLE_SERVICE_ACCOUNT_FILE."""

    def __init__(self, google: GoogleSettings, outbound: OutboundSettings) -> None:
        self._google = google
        self._outbound = outbound
        self._credentials: service_account.Credentials | None = None
        self._access_token: str | None = None
        # One refresh at a time: concurrent requests that find the token stale wait for it instead of each asking.
        self._token_lock = asyncio.Lock()

    async def get(self, *, stale: str | None = None) -> str:
        """A valid access token; `stale` is one Google just refused, refreshed unless someone already did."""
        credentials = self._credentials
        token = self._access_token
        if (
            token is not None
            and token != stale
            and credentials is not None
            and credentials.valid
            and not self._token_lock.locked()  # a refresh (in a thread, writing the credentials) is under way
        ):
            return token
        async with self._token_lock:
            credentials = await self._load_credentials()
            if self._access_token is None or self._access_token == stale or not credentials.valid:
                await self._refresh(credentials)
            assert self._access_token is not None
            return self._access_token

    async def _load_credentials(self) -> service_account.Credentials:
        if self._credentials is not None:
            return self._credentials
        path = self._google.service_account_file
        if not path:
            raise errors.unconfigured()
        try:
            credentials: service_account.Credentials = await asyncio.to_thread(
                service_account.Credentials.from_service_account_file,
                path,
                scopes=[ANDROIDPUBLISHER_SCOPE],
            )
        except (OSError, ValueError) as exc:
            log.error("cannot load the Google service account key file: %s", type(exc).__name__)
            raise errors.unconfigured() from None
        self._credentials = credentials
        return credentials

    async def _refresh(self, credentials: service_account.Credentials) -> None:
        # google-auth's refresh is blocking (requests); its default timeout is 120 s, so bound it by ours.
        request = functools.partial(google.auth.transport.requests.Request(), timeout=self._outbound.timeout_seconds)
        try:
            await asyncio.to_thread(credentials.refresh, request)
        except google.auth.exceptions.RefreshError as exc:
            if exc.retryable:
                log.warning("Google's token endpoint is unavailable")
                raise errors.unavailable() from None
            # The key is revoked or the account disabled: our configuration, not the user's purchase.
            log.error("Google refused our service account's token request")
            raise errors.provider_refused() from None
        except google.auth.exceptions.TransportError as exc:
            log.warning("Google's token endpoint is unreachable: %s", type(exc.__cause__ or exc).__name__)
            raise errors.unavailable() from None
        self._access_token = str(credentials.token)
