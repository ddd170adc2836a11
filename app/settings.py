"""Settings: the only module that reads the environment.

Each field of a section maps to one environment variable named ``<SECTION>_<FIELD>`` in upper case
(``Settings.jwt.secret`` <- ``JWT_SECRET``); top-level fields map to their own name (``APP_ENV``).
``load_settings`` converts every variable, applies the rules of the environment, and raises one
``SettingsError`` that lists every problem at once.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec
from dotenv import dotenv_values

Environment = Literal["development", "test", "staging", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# Known only to development and test; staging and production refuse it.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-do-not-use-in-production"  # noqa: S105
MIN_SECRET_LENGTH = 32
# What the examples (config/env.example.*, deploy/kubernetes/) put where the operator must fill in a value.
PLACEHOLDER = "CHANGE_ME"
# Encrypts stored purchase proofs in development and test only ("key id:base64 of 32 bytes").
DEVELOPMENT_RECEIPT_KEY = "dev:ZGV2ZWxvcG1lbnQtb25seS1yZWNlaXB0LWtleS0zMmI="
RECEIPT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=$")
# A SOCIAL_AVATAR_HOSTS entry: a lower-case host name, or `*.` and a domain for its subdomains.
AVATAR_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
PRODUCT_MAPPING = re.compile(r"^[A-Za-z0-9._-]{1,200}=(regular|creator):(monthly|yearly)$")


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str | None = None
    pool_min_size: int = 2
    pool_max_size: int = 10
    command_timeout_seconds: float = 30.0
    ready_timeout_seconds: float = 2.0
    # How long a request waits for a pooled connection before answering 503.
    acquire_timeout_seconds: float = 5.0
    # How long a migration in a transaction waits for a table lock (lock_timeout) before it fails, rather than
    # stall every query queued behind its wait; files that run outside a transaction wait without a limit.
    migration_lock_timeout_seconds: float = 10.0


class JwtSettings(msgspec.Struct, frozen=True, kw_only=True):
    secret: str = DEVELOPMENT_JWT_SECRET
    key_id: str = "k1"
    # The key in force before the last rotation: tokens it signed stay valid until they expire.
    previous_secret: str | None = None
    previous_key_id: str | None = None
    issuer: str = "cookcam-api"
    access_ttl_seconds: int = 900
    refresh_ttl_days: int = 30
    # Days after `cookcam import supabase --refresh-tokens` during which an imported Supabase refresh token can be
    # exchanged once at POST /auth/refresh; 0: never.
    imported_refresh_window_days: int = 0
    # Seconds during which a just-spent refresh token, sent again, answers the successor it was exchanged for (two
    # concurrent refreshes, a lost response) instead of counting as reuse; 0: no grace. docs/security.md.
    refresh_reuse_grace_seconds: int = 10


class SupabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Until when the previous backend's (Supabase's) access tokens are accepted wherever ours are (ISO 8601 with a
    # time zone); unset or past: off. docs/security.md, "Supabase access tokens during the move".
    token_accept_until: datetime | None = None
    # The project's legacy HS256 JWT secret; unset: HS256 tokens are never accepted as Supabase's.
    jwt_secret: str | None = None
    # The project's published keys (ES256/RS256): https://<project>.supabase.co/auth/v1/.well-known/jwks.json
    jwks_url: str | None = None
    # The tokens' iss (https://<project>.supabase.co/auth/v1); unset: not checked.
    issuer: str | None = None


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    # Peers whose X-Forwarded-For is believed (CIDRs or addresses, comma separated).
    trusted_proxies: tuple[str, ...] = ()
    shutdown_drain_seconds: float = 25.0
    public_base_url: str = "http://127.0.0.1:8000"
    # When set, GET /metrics requires "Authorization: Bearer <token>" (Prometheus bearer_token); during a rotation
    # the previous token is accepted too, so instances and the scrape config need not change at the same moment.
    metrics_token: str | None = None
    metrics_previous_token: str | None = None


class PasswordSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Each argon2id hash takes 64 MiB and most of a core for tens of milliseconds: cap how many run at once per
    # worker, so a burst of sign-ins queues instead of exhausting memory.
    max_concurrent_hashes: int = 2
    # Of those, how many one account's password checks may take at once: guesses at one account queue behind each
    # other and leave the other slots to everyone else.
    max_concurrent_hashes_per_account: int = 1


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    # With a Redis URL the counters live in Redis; otherwise in PostgreSQL.
    redis_url: str | None = None
    window_seconds: int = 900
    per_account: int = 10
    per_address: int = 50
    # Requests that send an email to one address (reset, verification, email change), per window and action.
    emails_per_account: int = 3
    # POST /auth/refresh, authenticated by its own token: per session, and per address with a limit of its own (a
    # carrier NAT or an office puts many users, each refreshing every 15 minutes, behind one address).
    refresh_per_session: int = 20
    refresh_per_address: int = 3000


class WebSocketSettings(msgspec.Struct, frozen=True, kw_only=True):
    auth_timeout_seconds: float = 5.0
    heartbeat_seconds: float = 25.0
    max_message_bytes: int = 16 * 1024
    messages_per_second: float = 10.0
    message_burst: int = 20
    # Sockets one account may hold on one worker (each costs the worker about 165 KiB: docs/benchmarks.md): phones,
    # tablets and tabs, with room for reconnects that overlap a dead socket the heartbeat has not found yet.
    max_sockets_per_user: int = 10
    # Before authentication (docs/security.md, "WebSocket frames and worker respawn"): granian hands the app a
    # message only once it holds all of it (up to 64 MiB, a limit no setting changes), so a first-message auth
    # lets an unauthenticated client make the worker hold that much. Off: a socket without a token in the handshake
    # is refused at once and no message is read before authentication.
    auth_by_message: bool = True
    # The first {"type":"auth"} message's largest size in bytes (close 1009 above).
    auth_message_max_bytes: int = 1024
    # Sockets from one client address waiting for their first auth message, per worker (close 4429 beyond).
    unauthenticated_per_address: int = 8


class LiveSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Live cooking sessions over the WebSocket (docs/live-sessions.md)."""

    # People in one session at once, host included (taken when the session starts).
    max_participants: int = 20
    # Active sessions one account may host at once.
    max_hosted: int = 3
    # live.* requests per connection: a tighter bucket inside the socket's own (close 4429 past it).
    requests_per_second: float = 5.0
    request_burst: int = 10
    # purge-expired ends sessions active for longer, and deletes ended ones (with their messages) after the days.
    max_duration_hours: int = 12
    retention_days: int = 30
    # Invitations one host may send a UTC day (RATE_LIMITED past it), and live.invited events one host may send one
    # person a UTC day (further invitations are recorded but not announced): invitations carry the host's title.
    invitations_per_day: int = 50
    invitation_notices_per_pair_per_day: int = 3


class SocialSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What one account's actions make reach other people (docs/social.md)."""

    # follower.new events: one a UTC day per follower and followee, and so many a UTC day per follower; past either
    # the follow still happens, unannounced.
    follow_notices_per_pair_per_day: int = 1
    follow_notices_per_day: int = 200
    # Hosts an avatar_url may name: a host, or "*.domain" for its subdomains (https only; docs/social.md "Avatars").
    avatar_hosts: tuple[str, ...] = ("cdn.cookcam.app", "*.supabase.co", "lh3.googleusercontent.com")


SmtpTls = Literal["none", "starttls", "tls"]


class MailSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Outgoing email through the outbox (docs/operations.md, "Email"): SMTP when a host is set, otherwise every
    message is written as a .eml file under DATA_DIR/mail (development and tests)."""

    from_address: str = "CookCam <no-reply@cookcam.app>"
    smtp_host: str | None = None
    smtp_port: int = 587
    # starttls: plain connection upgraded with STARTTLS (port 587); tls: TLS from the start (port 465); none: only
    # for a relay on this machine.
    smtp_tls: SmtpTls = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 10.0
    # Attempts per message before it is kept as dead (for inspection); waits double from the initial one.
    max_attempts: int = 8
    retry_initial_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # How long a sender's claim on a message lasts; a sender that dies is replaced after it (the message is resent).
    lease_seconds: float = 120.0
    batch_size: int = 50
    # Days a sent message's row (without its bodies) is kept before purge-expired deletes it.
    sent_retention_days: int = 30


class LogfireSettings(msgspec.Struct, frozen=True, kw_only=True):
    token: str | None = None
    service_name: str = "cookcam-api"


class OtelSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The standard OpenTelemetry variables: spans go over OTLP/HTTP to any collector, with or without Logfire."""

    # OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans are POSTed to <endpoint>/v1/traces.
    exporter_otlp_endpoint: str | None = None
    # OTEL_SERVICE_NAME: wins over LOGFIRE_SERVICE_NAME when set.
    service_name: str | None = None


class JobsSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Runs the periodic jobs inside each worker (advisory-locked), for the single-machine default. Turn it off
    # where cron, systemd timers or a Kubernetes CronJob run `cookcam jobs run NAME` instead.
    scheduler_enabled: bool = True
    interval_seconds: float = 3600.0
    # fold-leaderboards runs more often: ranks sum the rank counts appended since its last run.
    fold_leaderboards_seconds: float = 30.0
    # send-email runs often: a reset or verification link should arrive within seconds.
    send_email_seconds: float = 5.0


class ReconcileSettings(msgspec.Struct, frozen=True, kw_only=True):
    """`cookcam jobs run reconcile` (docs/payments.md "Reconciliation": the providers' documented limits)."""

    # A run starts no new provider call after this long; it keeps its position and the next run goes on. Under the
    # systemd unit's TimeoutStartSec (15 min) and the CronJob's activeDeadlineSeconds (30 min).
    max_run_seconds: float = 840.0
    # Subscriptions read per page of one provider's pass (the position is saved after each page).
    page_size: int = 200
    # Provider calls in flight at once, per provider: enough for the rate below, since a check holds its slot for
    # the round trip and the recording (measured ~210 ms at a 150 ms round trip: 8 sustained only 38 calls/s).
    stripe_concurrency: int = 16
    apple_concurrency: int = 12
    google_concurrency: int = 12
    # Provider calls started per second, per provider: below Stripe's 100 read operations/s (live mode), the App
    # Store Server API's 50/s for Get All Subscription Statuses and Google Play's 3,000 queries/min per bucket,
    # leaving room for the API servers' own calls.
    stripe_calls_per_second: float = 80.0
    apple_calls_per_second: float = 45.0
    google_calls_per_second: float = 45.0
    # A 429 or 503 pauses that provider's calls for its Retry-After (without one: backoff from the initial wait,
    # doubling up to the maximum), then the subscription is asked again, at most this many times.
    retry_attempts: int = 5
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    # How often a run logs its progress (stderr).
    progress_seconds: float = 10.0
    # `cookcam jobs run purge-expired` deletes each run's per-provider figures after this many days; /metrics reads
    # the providers' running totals, which keep them.
    results_retention_days: int = 90


class BillingSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Store product id -> tier and billing period, as "product_id=tier:period"; the server maps purchases with this,
    # never with what a client says a product is.
    products: tuple[str, ...] = (
        "com.cookcam.pro.monthly=regular:monthly",
        "com.cookcam.pro.yearly=regular:yearly",
        "com.cookcam.creator.monthly=creator:monthly",
        "com.cookcam.creator.yearly=creator:yearly",
    )
    # Where Stripe Checkout may send the user back: origins ("https://cookcam.app") or app schemes ("cookcam://").
    redirect_allowlist: tuple[str, ...] = ("cookcam://", "http://127.0.0.1:8000", "http://localhost:8000")
    # AES-256-GCM keys for stored purchase proofs, "key_id:base64(32 bytes)"; the first encrypts, all decrypt
    # (rotation: put the new key first and keep the old ones until their proofs are no longer needed).
    receipt_keys: tuple[str, ...] = (DEVELOPMENT_RECEIPT_KEY,)
    # Days a processed provider event keeps its payload (which names accounts and purchases) for forensics.
    event_payload_retention_days: int = 90
    # Unfinished provider events that `cookcam jobs run retry-events` reads (with their payloads) at a time; a run
    # goes through every batch, so this bounds its memory, not how far it looks.
    event_retry_batch_size: int = 100
    # A `retry-events` run starts no event after this long; the next run takes the rest, likeliest first again. Under
    # the job's 10-minute schedule, so runs do not pile up behind the lock, and the 15-minute kill of its timer.
    event_retry_max_run_seconds: float = 540.0
    # An imported binding (`cookcam import supabase --subscriptions`) whose provider keeps saying the id does not
    # exist is given up ("dead": not asked again) after this many such answers, one per reconciliation run...
    imported_binding_max_refusals: int = 3
    # ...and one still failing this many days after its import is given up at its next failed attempt, whatever
    # the error (an outage, our credentials refused): docs/runbooks/supabase-import.md.
    imported_binding_max_age_days: int = 30
    # A store purchase restored by another account while a live account holds it: "keep" refuses (409, saying how
    # to restore into the original account), "transfer" moves it. A deleted account's purchases are claimable always.
    transfer_policy: Literal["keep", "transfer"] = "keep"


class OutboundSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Calls to Apple and Google: per-call timeout and stamina retries on transient failures only."""

    timeout_seconds: float = 10.0
    retry_attempts: int = 3
    retry_initial_seconds: float = 1.0
    # Also the longest Retry-After honoured in-request; a longer one answers 503 with that Retry-After.
    retry_max_seconds: float = 10.0


class AppleSettings(msgspec.Struct, frozen=True, kw_only=True):
    bundle_id: str = "app.cookcam.ios"
    # Required to verify production data (Apple's numeric app id).
    app_apple_id: int | None = None
    # Apple's root certificates (DER or PEM files, e.g. AppleRootCA-G3.cer); none configured: Apple is off.
    root_certificates: tuple[str, ...] = ()
    # OCSP revocation checks of the signing chain (network calls to Apple).
    online_checks: bool = False
    # Accept sandbox purchases (TestFlight, App Review) as sandbox entitlements; the fraud view flags them.
    allow_sandbox: bool = True
    # Accept StoreKit data from Xcode and local testing, which Apple does not sign (anyone can forge it): for a
    # developer's machine only; staging and production refuse the setting.
    allow_unsigned: bool = False
    # verifyReceipt for legacy receipts: the app's shared secret and both environments' endpoints.
    shared_secret: str | None = None
    verify_receipt_url: str = "https://buy.itunes.apple.com/verifyReceipt"
    sandbox_verify_receipt_url: str = "https://sandbox.itunes.apple.com/verifyReceipt"
    # App Store Server API (reconciliation and refresh-status): an In-App Purchase key from App Store Connect.
    api_key_id: str | None = None
    api_issuer_id: str | None = None
    api_private_key_file: str | None = None  # the .p8 file
    api_base: str = "https://api.storekit.itunes.apple.com"
    sandbox_api_base: str = "https://api.storekit-sandbox.itunes.apple.com"
    # Sign in with Apple: identity tokens' `aud` is the bundle id (the app) or one of these Services IDs (the web).
    signin_service_ids: tuple[str, ...] = ()
    # Apple's JWKS, against which identity tokens and server-to-server notifications are verified.
    signin_keys_url: str = "https://appleid.apple.com/auth/keys"


class GoogleSettings(msgspec.Struct, frozen=True, kw_only=True):
    package_name: str = "app.cookcam.android"
    # A service-account JSON key with access to the Play Developer API; none configured: Google Play is off.
    service_account_file: str | None = None
    androidpublisher_base: str = "https://androidpublisher.googleapis.com"
    # Real-time developer notifications (Pub/Sub push): the OIDC token's audience and service-account email.
    rtdn_audience: str | None = None
    rtdn_service_account_email: str | None = None
    # Google's OIDC signing certificates ({kid: PEM}): Pub/Sub's push tokens and Sign in with Google's ID tokens.
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    # Sign in with Google: the OAuth client ids (iOS, Android, web) an ID token's `aud` may name; none: it is off.
    signin_client_ids: tuple[str, ...] = ()


class StripeSettings(msgspec.Struct, frozen=True, kw_only=True):
    secret_key: str | None = None
    webhook_secret: str | None = None
    # The signing secret before the last rotation: webhooks signed with it still verify during the changeover.
    previous_webhook_secret: str | None = None
    # Signing secret of the Stripe Connect webhook endpoint (events on creators' connected accounts), and the one
    # before the last rotation; unset: that endpoint answers 503 and account status updates only on refresh.
    connect_webhook_secret: str | None = None
    previous_connect_webhook_secret: str | None = None
    api_base: str = "https://api.stripe.com"
    webhook_tolerance_seconds: int = 300
    # Days a Stripe subscription whose renewal charge failed (past_due) keeps its tier while Stripe retries: Stripe's
    # recommended Smart Retries policy is 8 tries within 2 weeks (docs/payments.md "Billing grace"); 0: no grace.
    grace_days: int = 14
    # Price lookup key -> tier and billing period, as "lookup_key=tier:period".
    prices: tuple[str, ...] = (
        "cookcam_regular_monthly=regular:monthly",
        "cookcam_regular_yearly=regular:yearly",
        "cookcam_creator_monthly=creator:monthly",
        "cookcam_creator_yearly=creator:yearly",
    )


class AiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """An OpenAI-compatible Chat Completions provider with structured output; no base URL: AI features are off
    (scanning answers 503 AI_PROVIDER_UNCONFIGURED, recipes come from the catalog)."""

    base_url: str | None = None  # e.g. https://api.openai.com/v1
    api_key: str | None = None
    scan_model: str = "gpt-4o-mini"
    recipe_model: str = "gpt-4o-mini"
    timeout_seconds: float = 60.0
    # For the per-user, per-day cost accounting: the model's prices in US dollars per million tokens.
    input_usd_per_million_tokens: float = 0.15
    output_usd_per_million_tokens: float = 0.60
    # Daily spending caps (US dollars, UTC day, from that accounting): each user's (0 = no AI calls for users) and
    # the whole service's. Soft caps: calls in flight when a cap is reached still complete.
    user_daily_budget_usd: float = 1.0
    daily_budget_usd: float = 50.0
    # How long a generated answer is reused for identical requests (same ingredients, preferences, model, prompt).
    cache_ttl_seconds: int = 7 * 24 * 3600


class ScanSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Days a scan keeps its (downscaled) image; 0 = images are never stored.
    image_retention_days: int = 0
    # Paid tiers' daily scans: unlimited in the product, capped here for fair use.
    fair_use_per_day: int = 200
    # Scan attempts per account a minute, refused or not: a refused image gives the day's scan back, so this is what
    # bounds how many uploads one account makes the server look at.
    attempts_per_minute: int = 20
    # Uploads whose header declares more pixels are refused (413) before anything decodes them; a PNG or WebP
    # decodes in full, 3-4 bytes a pixel (a JPEG at 1/2 to 1/8 scale).
    max_image_pixels: int = 40_000_000
    # Threads per worker decoding and downscaling uploads (their own pool, not password hashing's); each holds up to
    # about max_image_pixels x 4 bytes while it decodes.
    decode_threads: int = 2
    # How long an upload waits for a free decoding thread before 503 IMAGE_DECODER_BUSY with Retry-After.
    decode_wait_seconds: float = 5.0


class FdcSettings(msgspec.Struct, frozen=True, kw_only=True):
    # USDA FoodData Central (api.data.gov key), used by `cookcam ingredients refresh` to update the shipped data.
    api_key: str | None = None
    base_url: str = "https://api.nal.usda.gov/fdc"


class RecipeSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Saved recipes for paid tiers (unlimited in the product, capped here for fair use).
    saved_fair_use: int = 5000
    # AI recipe generations a month for paid tiers (fair use; free: the tier's 10).
    generations_fair_use_per_month: int = 1000
    # Recipes of their own (written out by generate-detailed) one account may keep; past it 403, delete some first.
    own_max: int = 2000


class AnalyticsSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Days a tracked event is kept before purge-expired deletes it.
    retention_days: int = 180
    # Events one account may track a minute and a UTC day (429 RATE_LIMITED with Retry-After past either).
    events_per_minute: int = 120
    events_per_day: int = 10_000


# The longest hold of creator earnings: Google refunds orders for up to three years, nothing allows longer.
MAX_HOLD_DAYS = 3 * 366


class CreatorSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Affiliate links one creator may have.
    max_links: int = 20
    # Visits through affiliate links counted per visitor network (an IPv4 address, an IPv6 /64) a minute; more
    # answer 429 and are not counted.
    clicks_per_address_per_minute: int = 60
    # The smallest payout, in cents (USD).
    minimum_payout_cents: int = 1000
    # Days an earning is held before it can be paid out: the provider's refund and chargeback window (docs/payments.md
    # "Creator earnings: the hold" has the providers' windows behind these defaults). 0 makes earnings payable at once.
    hold_days_stripe: int = 60
    hold_days_apple: int = 90
    hold_days_google: int = 60


class DemoSettings(msgspec.Struct, frozen=True, kw_only=True):
    email: str = "demo@cookcam.app"
    password: str = "cookcam-demo-2026"  # noqa: S105 - the demo account the README documents


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    app_env: Environment = "development"
    log_level: LogLevel = "INFO"
    cors_origin: tuple[str, ...] = ()
    data_dir: str = ".cookcam"
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    jwt: JwtSettings = msgspec.field(default_factory=JwtSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    ratelimit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    password: PasswordSettings = msgspec.field(default_factory=PasswordSettings)
    ws: WebSocketSettings = msgspec.field(default_factory=WebSocketSettings)
    live: LiveSettings = msgspec.field(default_factory=LiveSettings)
    social: SocialSettings = msgspec.field(default_factory=SocialSettings)
    logfire: LogfireSettings = msgspec.field(default_factory=LogfireSettings)
    otel: OtelSettings = msgspec.field(default_factory=OtelSettings)
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    jobs: JobsSettings = msgspec.field(default_factory=JobsSettings)
    billing: BillingSettings = msgspec.field(default_factory=BillingSettings)
    reconcile: ReconcileSettings = msgspec.field(default_factory=ReconcileSettings)
    stripe: StripeSettings = msgspec.field(default_factory=StripeSettings)
    outbound: OutboundSettings = msgspec.field(default_factory=OutboundSettings)
    apple: AppleSettings = msgspec.field(default_factory=AppleSettings)
    google: GoogleSettings = msgspec.field(default_factory=GoogleSettings)
    supabase: SupabaseSettings = msgspec.field(default_factory=SupabaseSettings)
    ai: AiSettings = msgspec.field(default_factory=AiSettings)
    scan: ScanSettings = msgspec.field(default_factory=ScanSettings)
    recipes: RecipeSettings = msgspec.field(default_factory=RecipeSettings)
    analytics: AnalyticsSettings = msgspec.field(default_factory=AnalyticsSettings)
    creators: CreatorSettings = msgspec.field(default_factory=CreatorSettings)
    fdc: FdcSettings = msgspec.field(default_factory=FdcSettings)
    demo: DemoSettings = msgspec.field(default_factory=DemoSettings)

    @property
    def is_production_like(self) -> bool:
        return self.app_env in ("staging", "production")


SECRET_FIELDS = frozenset(
    {
        "jwt.secret",
        "jwt.previous_secret",
        "logfire.token",
        "demo.password",
        "http.metrics_token",
        "http.metrics_previous_token",
        "stripe.secret_key",
        "stripe.webhook_secret",
        "stripe.previous_webhook_secret",
        "stripe.connect_webhook_secret",
        "stripe.previous_connect_webhook_secret",
        "billing.receipt_keys",
        "apple.shared_secret",
        "ai.api_key",
        "fdc.api_key",
        "mail.smtp_password",
        "supabase.jwt_secret",
    }
)


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
MISSING_ENVIRONMENT = (
    f"APP_ENV is required: set it to one of {', '.join(ENVIRONMENTS)} (./dev sets development for what it starts)"
)


class MissingEnvironmentError(SettingsError):
    """No APP_ENV: which rules apply is unknown, so nothing else is judged; said in one line."""

    def __init__(self) -> None:
        super().__init__([MISSING_ENVIRONMENT])

    def __str__(self) -> str:
        return MISSING_ENVIRONMENT


def env_name(section: str | None, field: str) -> str:
    return (f"{section}_{field}" if section else field).upper()


def _convert(raw: str, annotation: Any) -> Any:
    """Convert one environment string to the field's type; comma-separated for tuples."""
    if get_origin(annotation) is tuple:
        raw_items = [item.strip() for item in raw.split(",") if item.strip()]
        return msgspec.convert(raw_items, annotation, strict=False)
    if raw == "" and type(None) in get_args(annotation):
        return None
    return msgspec.convert(raw, annotation, strict=False)


def _expected(annotation: Any) -> str:
    """What a field accepts, in words, for the message about a value it refused."""
    choices = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in choices)
    if get_origin(annotation) is tuple:
        return "a comma-separated list, each " + _expected(choices[0])
    if len(choices) == 1:  # an optional value: say what it is when set
        return _expected(choices[0])
    kinds = {int: "a whole number", float: "a number", bool: "true or false", datetime: "an ISO 8601 date and time"}
    return kinds.get(annotation, "text")


def redact_url(url: str) -> str:
    """A connection URL with its password replaced (the user and host stay, to tell which one it is)."""
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not separator or not at:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _shown(raw: str) -> str:
    """A refused value as a message shows it: URLs without their password. Secrets are never shown: they are all
    text, which always converts, and their rules name only their length."""
    return repr(redact_url(raw))


def _read_struct(
    struct_type: type[msgspec.Struct], section: str | None, environ: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(struct_type):
        name = env_name(section, field.name)
        if name in environ:
            try:
                values[field.name] = _convert(environ[name], field.type)
            except msgspec.ValidationError:
                problems.append(f"{name}={_shown(environ[name])} is not {_expected(field.type)}")
    return values


def setting_names() -> list[str]:
    """Every setting's environment variable name."""
    names = []
    for field in msgspec.structs.fields(Settings):
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            names += [env_name(field.name, sub.name) for sub in msgspec.structs.fields(field.type)]
        else:
            names.append(env_name(None, field.name))
    return names


def _check_previous_secrets(settings: Settings, problems: list[str]) -> None:
    if settings.jwt.previous_secret and not settings.jwt.previous_key_id:
        problems.append("JWT_PREVIOUS_KEY_ID is required when JWT_PREVIOUS_SECRET is set")
    if settings.jwt.previous_key_id and settings.jwt.previous_key_id == settings.jwt.key_id:
        problems.append("JWT_PREVIOUS_KEY_ID must differ from JWT_KEY_ID")
    if settings.http.metrics_previous_token and not settings.http.metrics_token:
        problems.append("HTTP_METRICS_PREVIOUS_TOKEN needs HTTP_METRICS_TOKEN (alone it would leave /metrics open)")


def _check_environment_rules(settings: Settings, environ: Mapping[str, str], problems: list[str]) -> None:
    _check_previous_secrets(settings, problems)
    problems.extend(
        f"SOCIAL_AVATAR_HOSTS: {entry!r} is not a lower-case host name or *.domain"
        for entry in settings.social.avatar_hosts
        if not AVATAR_HOST.match(entry)
    )
    if settings.live.max_participants < 2:
        problems.append("LIVE_MAX_PARTICIPANTS must be at least 2 (the host and a guest)")
    if settings.database.pool_min_size > settings.database.pool_max_size:
        problems.append("DATABASE_POOL_MIN_SIZE must not exceed DATABASE_POOL_MAX_SIZE")
    for name, value in (
        ("HTTP_WORKERS", settings.http.workers),
        ("PASSWORD_MAX_CONCURRENT_HASHES", settings.password.max_concurrent_hashes),
        ("PASSWORD_MAX_CONCURRENT_HASHES_PER_ACCOUNT", settings.password.max_concurrent_hashes_per_account),
        ("RATELIMIT_REFRESH_PER_SESSION", settings.ratelimit.refresh_per_session),
        ("RATELIMIT_REFRESH_PER_ADDRESS", settings.ratelimit.refresh_per_address),
        ("DATABASE_POOL_MAX_SIZE", settings.database.pool_max_size),
        ("OUTBOUND_RETRY_ATTEMPTS", settings.outbound.retry_attempts),
        ("LIVE_MAX_HOSTED", settings.live.max_hosted),
        ("LIVE_REQUEST_BURST", settings.live.request_burst),
        ("LIVE_MAX_DURATION_HOURS", settings.live.max_duration_hours),
        ("LIVE_RETENTION_DAYS", settings.live.retention_days),
        ("LIVE_INVITATIONS_PER_DAY", settings.live.invitations_per_day),
        ("LIVE_INVITATION_NOTICES_PER_PAIR_PER_DAY", settings.live.invitation_notices_per_pair_per_day),
        ("SOCIAL_FOLLOW_NOTICES_PER_PAIR_PER_DAY", settings.social.follow_notices_per_pair_per_day),
        ("SOCIAL_FOLLOW_NOTICES_PER_DAY", settings.social.follow_notices_per_day),
        ("RECIPES_OWN_MAX", settings.recipes.own_max),
        ("BILLING_EVENT_PAYLOAD_RETENTION_DAYS", settings.billing.event_payload_retention_days),
        ("BILLING_EVENT_RETRY_BATCH_SIZE", settings.billing.event_retry_batch_size),
        ("BILLING_IMPORTED_BINDING_MAX_REFUSALS", settings.billing.imported_binding_max_refusals),
        ("BILLING_IMPORTED_BINDING_MAX_AGE_DAYS", settings.billing.imported_binding_max_age_days),
        ("RECONCILE_PAGE_SIZE", settings.reconcile.page_size),
        ("RECONCILE_STRIPE_CONCURRENCY", settings.reconcile.stripe_concurrency),
        ("RECONCILE_APPLE_CONCURRENCY", settings.reconcile.apple_concurrency),
        ("RECONCILE_GOOGLE_CONCURRENCY", settings.reconcile.google_concurrency),
        ("RECONCILE_STRIPE_CALLS_PER_SECOND", settings.reconcile.stripe_calls_per_second),
        ("RECONCILE_APPLE_CALLS_PER_SECOND", settings.reconcile.apple_calls_per_second),
        ("RECONCILE_GOOGLE_CALLS_PER_SECOND", settings.reconcile.google_calls_per_second),
        ("RECONCILE_MAX_RUN_SECONDS", settings.reconcile.max_run_seconds),
        ("SCAN_FAIR_USE_PER_DAY", settings.scan.fair_use_per_day),
        ("SCAN_ATTEMPTS_PER_MINUTE", settings.scan.attempts_per_minute),
        ("SCAN_MAX_IMAGE_PIXELS", settings.scan.max_image_pixels),
        ("SCAN_DECODE_THREADS", settings.scan.decode_threads),
        ("RECIPES_SAVED_FAIR_USE", settings.recipes.saved_fair_use),
        ("RECIPES_GENERATIONS_FAIR_USE_PER_MONTH", settings.recipes.generations_fair_use_per_month),
        ("AI_CACHE_TTL_SECONDS", settings.ai.cache_ttl_seconds),
        ("ANALYTICS_RETENTION_DAYS", settings.analytics.retention_days),
        ("ANALYTICS_EVENTS_PER_MINUTE", settings.analytics.events_per_minute),
        ("ANALYTICS_EVENTS_PER_DAY", settings.analytics.events_per_day),
        ("WS_MAX_SOCKETS_PER_USER", settings.ws.max_sockets_per_user),
        ("WS_AUTH_MESSAGE_MAX_BYTES", settings.ws.auth_message_max_bytes),
        ("WS_UNAUTHENTICATED_PER_ADDRESS", settings.ws.unauthenticated_per_address),
        ("CREATORS_MAX_LINKS", settings.creators.max_links),
        ("CREATORS_CLICKS_PER_ADDRESS_PER_MINUTE", settings.creators.clicks_per_address_per_minute),
        ("CREATORS_MINIMUM_PAYOUT_CENTS", settings.creators.minimum_payout_cents),
        ("RATELIMIT_EMAILS_PER_ACCOUNT", settings.ratelimit.emails_per_account),
        ("MAIL_MAX_ATTEMPTS", settings.mail.max_attempts),
        ("MAIL_BATCH_SIZE", settings.mail.batch_size),
        ("MAIL_SENT_RETENTION_DAYS", settings.mail.sent_retention_days),
        ("MAIL_SMTP_PORT", settings.mail.smtp_port),
    ):
        if value < 1:
            problems.append(f"{name} must be at least 1")
    for name, seconds in (
        ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", settings.database.acquire_timeout_seconds),
        ("DATABASE_READY_TIMEOUT_SECONDS", settings.database.ready_timeout_seconds),
        ("JOBS_INTERVAL_SECONDS", settings.jobs.interval_seconds),
        ("JOBS_FOLD_LEADERBOARDS_SECONDS", settings.jobs.fold_leaderboards_seconds),
        ("WS_AUTH_TIMEOUT_SECONDS", settings.ws.auth_timeout_seconds),
        ("WS_HEARTBEAT_SECONDS", settings.ws.heartbeat_seconds),
        ("LIVE_REQUESTS_PER_SECOND", settings.live.requests_per_second),
        ("OUTBOUND_TIMEOUT_SECONDS", settings.outbound.timeout_seconds),
        ("OUTBOUND_RETRY_MAX_SECONDS", settings.outbound.retry_max_seconds),
        ("AI_TIMEOUT_SECONDS", settings.ai.timeout_seconds),
        ("SCAN_DECODE_WAIT_SECONDS", settings.scan.decode_wait_seconds),
        ("JOBS_SEND_EMAIL_SECONDS", settings.jobs.send_email_seconds),
        ("MAIL_SMTP_TIMEOUT_SECONDS", settings.mail.smtp_timeout_seconds),
        ("MAIL_RETRY_INITIAL_SECONDS", settings.mail.retry_initial_seconds),
        ("MAIL_RETRY_MAX_SECONDS", settings.mail.retry_max_seconds),
        ("MAIL_LEASE_SECONDS", settings.mail.lease_seconds),
        ("BILLING_EVENT_RETRY_MAX_RUN_SECONDS", settings.billing.event_retry_max_run_seconds),
    ):
        if seconds <= 0:
            problems.append(f"{name} must be greater than 0")
    problems.extend(
        f"{name} must be 0 or more"
        for name, amount in (
            ("AI_USER_DAILY_BUDGET_USD", settings.ai.user_daily_budget_usd),
            ("AI_DAILY_BUDGET_USD", settings.ai.daily_budget_usd),
            ("STRIPE_GRACE_DAYS", settings.stripe.grace_days),
        )
        if not amount >= 0  # also refuses NaN
    )
    problems.extend(
        f"{name} must be between 0 and {MAX_HOLD_DAYS}"
        for name, days in (
            ("CREATORS_HOLD_DAYS_STRIPE", settings.creators.hold_days_stripe),
            ("CREATORS_HOLD_DAYS_APPLE", settings.creators.hold_days_apple),
            ("CREATORS_HOLD_DAYS_GOOGLE", settings.creators.hold_days_google),
        )
        if not 0 <= days <= MAX_HOLD_DAYS
    )
    for name, mappings in (("BILLING_PRODUCTS", settings.billing.products), ("STRIPE_PRICES", settings.stripe.prices)):
        problems.extend(
            f"{name}: {entry!r} is not id=regular|creator:monthly|yearly"
            for entry in mappings
            if not PRODUCT_MAPPING.match(entry)
        )
    _check_receipt_keys(settings, problems)
    _check_mail(settings, problems)
    _check_tracing(settings, problems)
    _check_supabase(settings, problems)
    for proxy in settings.http.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append(f"HTTP_TRUSTED_PROXIES: {proxy!r} is not an address or CIDR")
    if settings.is_production_like:
        _check_production_rules(settings, environ, problems)


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAIL_ADDRESS = re.compile(r"^(?:[^<>]*<)?[^@\s<>]+@([^@\s<>]+\.[^@\s<>]+)>?$")


def _check_tracing(settings: Settings, problems: list[str]) -> None:
    # http is fine, also in production: the collector is often an agent on the machine or in the pod.
    endpoint = settings.otel.exporter_otlp_endpoint
    if endpoint and not endpoint.startswith(("http://", "https://")):
        problems.append("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL")


def _check_mail(settings: Settings, problems: list[str]) -> None:
    mail = settings.mail
    if not MAIL_ADDRESS.match(mail.from_address.strip()):
        problems.append("MAIL_FROM_ADDRESS must be an address, optionally with a name: CookCam <no-reply@cookcam.app>")
    if bool(mail.smtp_user) != bool(mail.smtp_password):
        problems.append("MAIL_SMTP_USER and MAIL_SMTP_PASSWORD are set together or not at all")
    if not settings.is_production_like:
        return
    if not mail.smtp_host:
        problems.append(f"MAIL_SMTP_HOST is required in {settings.app_env} (mail would only be written to files)")
    elif mail.smtp_tls == "none" and mail.smtp_host not in LOOPBACK_HOSTS:
        problems.append(f"MAIL_SMTP_TLS=none is only allowed for a relay on this machine in {settings.app_env}")


def _check_supabase(settings: Settings, problems: list[str]) -> None:
    supabase = settings.supabase
    if supabase.token_accept_until is None:
        return
    if supabase.token_accept_until.tzinfo is None:
        problems.append("SUPABASE_TOKEN_ACCEPT_UNTIL must name its time zone (e.g. 2027-01-31T00:00:00Z)")
    if not supabase.jwt_secret and not supabase.jwks_url:
        problems.append("SUPABASE_TOKEN_ACCEPT_UNTIL needs SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL")
    if supabase.jwt_secret and supabase.jwt_secret in (settings.jwt.secret, settings.jwt.previous_secret):
        problems.append("SUPABASE_JWT_SECRET must differ from JWT_SECRET and JWT_PREVIOUS_SECRET")
    if settings.is_production_like:
        if supabase.jwks_url and not supabase.jwks_url.startswith("https://"):
            problems.append(f"SUPABASE_JWKS_URL must be https in {settings.app_env}, not {_shown(supabase.jwks_url)}")
        if not supabase.issuer:
            problems.append(f"SUPABASE_ISSUER is required in {settings.app_env} while Supabase tokens are accepted")
        if supabase.jwt_secret and len(supabase.jwt_secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"SUPABASE_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters in {settings.app_env}"
            )


def _check_receipt_keys(settings: Settings, problems: list[str]) -> None:
    if not settings.billing.receipt_keys:
        problems.append("BILLING_RECEIPT_KEYS must list at least one key")
    ids = [entry.partition(":")[0] for entry in settings.billing.receipt_keys]
    if len(set(ids)) != len(ids):
        problems.append("BILLING_RECEIPT_KEYS: key ids must be unique")
    problems.extend(
        "BILLING_RECEIPT_KEYS: an entry is not key_id:base64 of 32 bytes"
        for entry in settings.billing.receipt_keys
        if not RECEIPT_KEY.match(entry)
    )
    if settings.is_production_like and DEVELOPMENT_RECEIPT_KEY in settings.billing.receipt_keys:
        problems.append("BILLING_RECEIPT_KEYS must not include the development key")


def _check_production_rules(settings: Settings, environ: Mapping[str, str], problems: list[str]) -> None:
    # Staging and production: every secret they use is set, long, and not a development default.
    problems.extend(
        f"{name} still holds the {PLACEHOLDER} placeholder"
        for name in setting_names()
        if PLACEHOLDER in environ.get(name, "")
    )
    if "JWT_SECRET" not in environ:
        problems.append(f"JWT_SECRET is required in {settings.app_env}")
    elif settings.jwt.secret == DEVELOPMENT_JWT_SECRET:
        problems.append("JWT_SECRET must not be the development default")
    _check_stripe_rules(settings, environ, problems)
    _check_sign_in_providers(settings, problems)
    _check_apple_rules(settings, problems)
    for target in settings.billing.redirect_allowlist:
        if target.startswith("http://"):
            problems.append(
                f"BILLING_REDIRECT_ALLOWLIST: {target!r} must be https or an app scheme in {settings.app_env}"
            )
    for label, secret in (
        ("JWT_SECRET", settings.jwt.secret),
        ("JWT_PREVIOUS_SECRET", settings.jwt.previous_secret),
        ("STRIPE_SECRET_KEY", settings.stripe.secret_key),
        ("STRIPE_WEBHOOK_SECRET", settings.stripe.webhook_secret),
        ("STRIPE_PREVIOUS_WEBHOOK_SECRET", settings.stripe.previous_webhook_secret),
        ("STRIPE_CONNECT_WEBHOOK_SECRET", settings.stripe.connect_webhook_secret),
        ("STRIPE_PREVIOUS_CONNECT_WEBHOOK_SECRET", settings.stripe.previous_connect_webhook_secret),
    ):
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"{label} must be at least {MIN_SECRET_LENGTH} characters in {settings.app_env} (it has {len(secret)})"
            )
    if not settings.database.url:
        problems.append(f"DATABASE_URL is required in {settings.app_env} (no embedded database there)")
    if "*" in settings.cors_origin:
        problems.append(f"CORS_ORIGIN must list origins, not '*', in {settings.app_env}")
    for origin in settings.cors_origin:
        if not origin.startswith("https://"):
            problems.append(f"CORS_ORIGIN: {origin!r} must be https in {settings.app_env}")
    if not settings.http.public_base_url.startswith("https://"):
        problems.append(
            f"HTTP_PUBLIC_BASE_URL must be https in {settings.app_env}, not {_shown(settings.http.public_base_url)}"
        )


def _check_apple_rules(settings: Settings, problems: list[str]) -> None:
    if settings.apple.allow_unsigned:
        problems.append(
            f"APPLE_ALLOW_UNSIGNED must be false in {settings.app_env}: Xcode and local-testing StoreKit data is not "
            "signed by Apple"
        )


def _check_sign_in_providers(settings: Settings, problems: list[str]) -> None:
    for name, url in (
        ("APPLE_SIGNIN_KEYS_URL", settings.apple.signin_keys_url),
        ("GOOGLE_OIDC_CERTS_URL", settings.google.oidc_certs_url),
    ):
        if not url.startswith("https://"):
            problems.append(f"{name} must be https in {settings.app_env}, not {_shown(url)}")


def _check_stripe_rules(settings: Settings, environ: Mapping[str, str], problems: list[str]) -> None:
    for required in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        if not environ.get(required):
            problems.append(f"{required} is required in {settings.app_env}")
    if not settings.stripe.api_base.startswith("https://"):
        problems.append(f"STRIPE_API_BASE must be https in {settings.app_env}, not {_shown(settings.stripe.api_base)}")


def read_env_file(path: Path) -> dict[str, str]:
    """A .env file as python-dotenv reads it: `export NAME=value`, quotes, escapes and trailing `# comments` as a
    shell would take them. Values are literal (no ${VAR} expansion: a secret may contain `$`); a bare NAME is
    skipped."""
    return {name: value for name, value in dotenv_values(path, interpolate=False).items() if value is not None}


def read_environment(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over the .env file's values."""
    merged = read_env_file(env_file) if env_file is not None and env_file.is_file() else {}
    merged.update(os.environ)
    return merged


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build validated Settings from the environment (and .env, whose values the environment overrides)."""
    merged = dict(environ) if environ is not None else read_environment(env_file)
    # Never a default: a forgotten APP_ENV must not turn a server into a development one (demo account, Xcode data).
    if not merged.get("APP_ENV"):
        raise MissingEnvironmentError()
    problems: list[str] = []
    top = _read_struct(Settings, None, merged, problems)
    sections: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        if _is_section(field.type):
            top.pop(field.name, None)
            sections[field.name] = field.type(**_read_struct(field.type, field.name, merged, problems))
    # Fields that failed to convert keep their defaults so the rules below still report their own problems.
    settings = Settings(**top, **sections)
    _check_environment_rules(settings, merged, problems)
    if problems:
        raise SettingsError(problems)
    return settings


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def _setting_names() -> tuple[str, ...]:
    names = []
    for field in msgspec.structs.fields(Settings):
        if _is_section(field.type):
            names += [env_name(field.name, sub.name) for sub in msgspec.structs.fields(field.type)]
        else:
            names.append(env_name(None, field.name))
    return tuple(names)


SETTING_NAMES = _setting_names()
# A variable "looks like ours" when its name starts with a section's prefix (STRIPE_, JWT_, DATABASE_, ...).
SECTION_PREFIXES = tuple(
    f"{field.name.upper()}_" for field in msgspec.structs.fields(Settings) if _is_section(field.type)
)
# Names other software reads under those prefixes: proxies and Google's client libraries.
FOREIGN_VARIABLES = frozenset({"HTTP_PROXY", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"})
# logfire reads many LOGFIRE_* options of its own: under this prefix only a near miss of one of ours is reported.
SHARED_PREFIXES = ("LOGFIRE_",)
# difflib's similarity ratio from which a name counts as a misspelling of a setting.
NEAR_MISS = 0.8


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per variable that looks like ours but is no setting (so it is ignored), with the setting it
    probably means: STRIPE_WEBHOOK_SECRT -> STRIPE_WEBHOOK_SECRET."""
    known = frozenset(SETTING_NAMES)
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if name in known or upper in FOREIGN_VARIABLES or not upper.startswith(SECTION_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, SETTING_NAMES, n=1, cutoff=NEAR_MISS)
        if upper.startswith(SHARED_PREFIXES) and not close:
            continue
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective configuration as a dict, secrets replaced, for `cookcam config check`."""
    data: dict[str, Any] = msgspec.to_builtins(settings)
    for dotted in SECRET_FIELDS:
        section, _, name = dotted.partition(".")
        if data[section].get(name):
            data[section][name] = "***redacted***"
    if data["database"].get("url"):
        data["database"]["url"] = redact_url(data["database"]["url"])
    return data


def environment_with(overrides: Mapping[str, str]) -> dict[str, str]:
    """The process environment plus overrides, for child processes the CLI starts (granian workers)."""
    return {**os.environ, **overrides}


def set_process_environment(overrides: Mapping[str, str]) -> None:
    """Export values to this process's environment so that spawned workers load the same settings."""
    os.environ.update(overrides)


def export_otel_endpoint(otel: OtelSettings) -> None:
    """The OpenTelemetry SDK (through Logfire) reads OTEL_EXPORTER_OTLP_ENDPOINT from the process environment itself:
    make it say what the settings say, including a value from .env or a test's Settings, and nothing when unset."""
    if otel.exporter_otlp_endpoint:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otel.exporter_otlp_endpoint
    else:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
