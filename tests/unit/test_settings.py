from __future__ import annotations

import pytest

from app.settings import (
    DEVELOPMENT_JWT_SECRET,
    DEVELOPMENT_RECEIPT_KEY,
    SettingsError,
    load_settings,
    read_env_file,
    redacted,
)
from tests.support import production_like_env

DEV = {"APP_ENV": "development"}
PRODUCTION_OK = production_like_env(CORS_ORIGIN="https://cookcam.app,https://www.cookcam.app", JWT_SECRET="p" * 40)


def test_development_defaults_need_only_app_env() -> None:
    settings = load_settings(DEV)
    assert settings.app_env == "development"
    assert settings.jwt.secret == DEVELOPMENT_JWT_SECRET
    assert settings.http.port == 8000
    assert settings.http.max_body_bytes == 10 * 1024 * 1024


def test_values_convert_from_strings() -> None:
    settings = load_settings(
        {
            **DEV,
            "HTTP_PORT": "9001",
            "WS_MESSAGES_PER_SECOND": "2.5",
            "CORS_ORIGIN": "http://a, http://b",
            "LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.http.port == 9001
    assert settings.ws.messages_per_second == 2.5
    assert settings.cors_origin == ("http://a", "http://b")


def test_production_accepts_a_complete_configuration() -> None:
    settings = load_settings(PRODUCTION_OK)
    assert settings.is_production_like
    assert settings.cors_origin == ("https://cookcam.app", "https://www.cookcam.app")


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                "APP_ENV": "production",
                "JWT_SECRET": "short",
                "HTTP_PORT": "eighty",
                "DATABASE_POOL_MIN_SIZE": "not-a-number",
                "CORS_ORIGIN": "*",
                "PASSWORD_MAX_CONCURRENT_HASHES": "0",
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS": "0",
                "AI_USER_DAILY_BUDGET_USD": "-1",
                "AI_DAILY_BUDGET_USD": "nan",
            }
        )
    problems = "\n".join(raised.value.problems)
    assert "HTTP_PORT" in problems
    assert "DATABASE_POOL_MIN_SIZE" in problems
    assert "JWT_SECRET must be at least 32 characters" in problems
    assert "DATABASE_URL is required in production" in problems
    assert "CORS_ORIGIN must list origins" in problems
    assert "HTTP_PUBLIC_BASE_URL must be https" in problems
    assert "STRIPE_WEBHOOK_SECRET is required in production" in problems
    assert "PASSWORD_MAX_CONCURRENT_HASHES must be at least 1" in problems
    assert "DATABASE_ACQUIRE_TIMEOUT_SECONDS must be greater than 0" in problems
    assert "AI_USER_DAILY_BUDGET_USD must be 0 or more" in problems
    assert "AI_DAILY_BUDGET_USD must be 0 or more" in problems
    assert len(raised.value.problems) >= 10


def test_production_refuses_the_development_secret_and_missing_secret() -> None:
    env = {**PRODUCTION_OK, "JWT_SECRET": DEVELOPMENT_JWT_SECRET}
    with pytest.raises(SettingsError, match="development default"):
        load_settings(env)
    env = {k: v for k, v in PRODUCTION_OK.items() if k != "JWT_SECRET"}
    with pytest.raises(SettingsError, match="JWT_SECRET is required"):
        load_settings(env)


def test_staging_has_production_rules() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is required in staging"):
        load_settings({"APP_ENV": "staging", "JWT_SECRET": "s" * 40})


def test_previous_key_needs_an_id_distinct_from_the_current() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**DEV, "JWT_PREVIOUS_SECRET": "x" * 40})
    assert "JWT_PREVIOUS_KEY_ID is required" in str(raised.value)
    with pytest.raises(SettingsError, match="must differ"):
        load_settings({**DEV, "JWT_PREVIOUS_SECRET": "x" * 40, "JWT_PREVIOUS_KEY_ID": "k1"})


def test_avatar_hosts_are_host_names_never_addresses() -> None:
    hosts = load_settings({**DEV, "SOCIAL_AVATAR_HOSTS": "cdn.cookcam.app, *.supabase.co"}).social.avatar_hosts
    assert hosts == ("cdn.cookcam.app", "*.supabase.co")
    with pytest.raises(SettingsError) as raised:
        load_settings({**DEV, "SOCIAL_AVATAR_HOSTS": "169.254.169.254,localhost,*.co,CDN.example.com,[::1]"})
    assert str(raised.value).count("SOCIAL_AVATAR_HOSTS") == 5


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="APP_ENV"):
        load_settings({"APP_ENV": "prod"})


def test_redaction_hides_secrets_and_database_password() -> None:
    data = redacted(load_settings({**PRODUCTION_OK, "LOGFIRE_TOKEN": "lf_secret_token"}))
    text = repr(data)
    assert "p" * 40 not in text
    assert "hunter2" not in text
    assert "lf_secret_token" not in text
    assert data["jwt"]["secret"] == "***redacted***"
    assert data["stripe"]["webhook_secret"] == "***redacted***"
    assert "w" * 40 not in text
    assert data["database"]["url"] == "postgresql://cookcam:***@db.internal:5432/cookcam"
    assert data["billing"]["receipt_keys"] == "***redacted***"
    assert "cHJvZHVjdGlvbi" not in text


def test_env_file_is_read_and_environment_wins(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nHTTP_PORT=9100\nLOG_LEVEL='DEBUG'\n\nnot a pair\n")
    assert read_env_file(env_file) == {"HTTP_PORT": "9100", "LOG_LEVEL": "DEBUG"}


def test_billing_products_must_name_a_paid_tier_and_period() -> None:
    settings = load_settings({**DEV, "BILLING_PRODUCTS": "com.x.pro=regular:monthly,com.x.creator=creator:yearly"})
    assert settings.billing.products == ("com.x.pro=regular:monthly", "com.x.creator=creator:yearly")
    with pytest.raises(SettingsError, match="BILLING_PRODUCTS"):
        load_settings({**DEV, "BILLING_PRODUCTS": "com.x.free=free:monthly"})


def test_creator_earnings_holds_are_days_per_provider_from_none_to_three_years() -> None:
    defaults = load_settings(DEV).creators
    assert (defaults.hold_days_stripe, defaults.hold_days_apple, defaults.hold_days_google) == (60, 90, 60)
    assert load_settings({**DEV, "CREATORS_HOLD_DAYS_STRIPE": "0"}).creators.hold_days_stripe == 0
    with pytest.raises(SettingsError) as refused:
        load_settings({**DEV, "CREATORS_HOLD_DAYS_APPLE": "-1", "CREATORS_HOLD_DAYS_GOOGLE": "2000"})
    assert refused.value.problems == [
        "CREATORS_HOLD_DAYS_APPLE must be between 0 and 1098",
        "CREATORS_HOLD_DAYS_GOOGLE must be between 0 and 1098",
    ]


def test_production_refuses_plain_http_return_addresses() -> None:
    with pytest.raises(SettingsError, match="BILLING_REDIRECT_ALLOWLIST"):
        load_settings({**PRODUCTION_OK, "BILLING_REDIRECT_ALLOWLIST": "cookcam://,http://cookcam.app"})


def test_receipt_keys_are_checked_and_the_development_key_is_refused_in_production() -> None:
    key = "a2:" + "A" * 43 + "="
    assert load_settings({**DEV, "BILLING_RECEIPT_KEYS": f"{key},a1:{'B' * 43}="}).billing.receipt_keys[0] == key
    with pytest.raises(SettingsError) as raised:
        load_settings({**DEV, "BILLING_RECEIPT_KEYS": f"{key},{key},short:abc"})
    assert "key ids must be unique" in str(raised.value)
    assert "not key_id:base64 of 32 bytes" in str(raised.value)
    with pytest.raises(SettingsError, match="must not include the development key"):
        load_settings({**PRODUCTION_OK, "BILLING_RECEIPT_KEYS": DEVELOPMENT_RECEIPT_KEY})


def test_connect_webhook_secrets_are_optional_long_in_production_and_redacted() -> None:
    assert load_settings(PRODUCTION_OK).stripe.connect_webhook_secret is None
    with pytest.raises(SettingsError) as raised:
        load_settings({**PRODUCTION_OK, "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_short"})
    assert "STRIPE_CONNECT_WEBHOOK_SECRET must be at least 32 characters" in str(raised.value)
    secrets = {"STRIPE_CONNECT_WEBHOOK_SECRET": "c" * 40, "STRIPE_PREVIOUS_CONNECT_WEBHOOK_SECRET": "d" * 40}
    data = redacted(load_settings({**PRODUCTION_OK, **secrets}))
    assert "c" * 40 not in repr(data) and "d" * 40 not in repr(data)


def test_mail_settings_are_checked_the_smtp_password_redacted_and_smtp_required_in_production() -> None:
    settings = load_settings(
        {**DEV, "MAIL_SMTP_HOST": "smtp.example.com", "MAIL_SMTP_USER": "cookcam", "MAIL_SMTP_PASSWORD": "smtp-pw-123"},
        env_file=None,
    )
    assert settings.mail.smtp_password == "smtp-pw-123"
    assert redacted(settings)["mail"]["smtp_password"] == "***redacted***"
    assert "smtp-pw-123" not in str(redacted(settings))
    with pytest.raises(SettingsError) as error:
        load_settings(
            {**DEV, "MAIL_SMTP_PASSWORD": "smtp-pw-123", "MAIL_FROM_ADDRESS": "nobody", "MAIL_SMTP_TLS": "ssl"},
            env_file=None,
        )
    problems = "\n".join(error.value.problems)
    assert "MAIL_SMTP_USER and MAIL_SMTP_PASSWORD are set together" in problems
    assert "MAIL_FROM_ADDRESS must be an address" in problems
    assert "MAIL_SMTP_TLS" in problems
    with pytest.raises(SettingsError) as error:
        load_settings(production_like_env(MAIL_SMTP_HOST=""), env_file=None)
    assert "MAIL_SMTP_HOST is required in production" in "\n".join(error.value.problems)
    with pytest.raises(SettingsError) as error:
        load_settings(production_like_env(MAIL_SMTP_TLS="none"), env_file=None)
    assert "MAIL_SMTP_TLS=none is only allowed for a relay on this machine" in "\n".join(error.value.problems)
    relay = load_settings(production_like_env(MAIL_SMTP_HOST="127.0.0.1", MAIL_SMTP_TLS="none"), env_file=None)
    assert relay.mail.smtp_tls == "none"


def test_sign_in_providers_keys_must_be_https_in_production() -> None:
    env = {**PRODUCTION_OK, "APPLE_SIGNIN_KEYS_URL": "http://keys.test", "GOOGLE_OIDC_CERTS_URL": "http://certs.test"}
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert "APPLE_SIGNIN_KEYS_URL must be https" in str(raised.value)
    assert "GOOGLE_OIDC_CERTS_URL must be https" in str(raised.value)
    settings = load_settings({**PRODUCTION_OK, "GOOGLE_SIGNIN_CLIENT_IDS": "a.apps.googleusercontent.com,b"})
    assert settings.google.signin_client_ids == ("a.apps.googleusercontent.com", "b")
    assert settings.apple.signin_keys_url == "https://appleid.apple.com/auth/keys"


def test_the_supabase_token_window_is_checked() -> None:
    settings = load_settings(
        {**DEV, "SUPABASE_TOKEN_ACCEPT_UNTIL": "2027-01-31T00:00:00Z", "SUPABASE_JWT_SECRET": "s" * 40}
    )
    assert settings.supabase.token_accept_until is not None
    assert settings.supabase.token_accept_until.utcoffset() is not None
    assert load_settings(DEV).supabase.token_accept_until is None
    with pytest.raises(SettingsError) as error:
        load_settings({**DEV, "SUPABASE_TOKEN_ACCEPT_UNTIL": "2027-01-31T00:00:00", "JWT_SECRET": "j" * 40})
    assert error.value.problems == [
        "SUPABASE_TOKEN_ACCEPT_UNTIL must name its time zone (e.g. 2027-01-31T00:00:00Z)",
        "SUPABASE_TOKEN_ACCEPT_UNTIL needs SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL",
    ]
    with pytest.raises(SettingsError) as error:
        load_settings({**DEV, "SUPABASE_TOKEN_ACCEPT_UNTIL": "soon", "SUPABASE_JWT_SECRET": "x"})
    assert error.value.problems[0].startswith("SUPABASE_TOKEN_ACCEPT_UNTIL:")
    with pytest.raises(SettingsError) as error:
        load_settings(
            {
                **PRODUCTION_OK,
                "SUPABASE_TOKEN_ACCEPT_UNTIL": "2027-01-31T00:00:00+01:00",
                "SUPABASE_JWT_SECRET": PRODUCTION_OK["JWT_SECRET"],
                "SUPABASE_JWKS_URL": "http://project.supabase.co/auth/v1/.well-known/jwks.json",
            }
        )
    assert error.value.problems == [
        "SUPABASE_JWT_SECRET must differ from JWT_SECRET and JWT_PREVIOUS_SECRET",
        "SUPABASE_JWKS_URL must be https in production",
        "SUPABASE_ISSUER is required in production while Supabase tokens are accepted",
    ]


def test_the_supabase_secret_is_redacted() -> None:
    data = redacted(
        load_settings({**DEV, "SUPABASE_TOKEN_ACCEPT_UNTIL": "2027-01-31T00:00:00Z", "SUPABASE_JWT_SECRET": "s" * 40})
    )
    assert data["supabase"]["jwt_secret"] == "***redacted***"


def test_a_missing_app_env_is_refused_in_one_line_naming_the_choices() -> None:
    """A forgotten APP_ENV no longer means development (demo account seeded, unsigned StoreKit data accepted)."""
    for environ in ({}, {"APP_ENV": ""}, {k: v for k, v in PRODUCTION_OK.items() if k != "APP_ENV"}):
        with pytest.raises(SettingsError) as raised:
            load_settings(environ, env_file=None)
        assert str(raised.value) == (
            "APP_ENV is required: set it to one of development, test, staging, production "
            "(./dev sets development for what it starts)"
        )


def test_unsigned_storekit_data_is_its_own_opt_in_which_staging_and_production_refuse() -> None:
    assert load_settings(DEV).apple.allow_unsigned is False
    assert load_settings({**DEV, "APPLE_ALLOW_UNSIGNED": "true"}).apple.allow_unsigned is True
    for environment in ("staging", "production"):
        with pytest.raises(SettingsError, match=f"APPLE_ALLOW_UNSIGNED must be false in {environment}"):
            load_settings({**PRODUCTION_OK, "APP_ENV": environment, "APPLE_ALLOW_UNSIGNED": "true"})


def test_the_otlp_endpoint_is_an_http_url_and_the_standard_names_are_read() -> None:
    settings = load_settings(
        {**DEV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "cookcam-eu"}, None
    )
    assert settings.otel.exporter_otlp_endpoint == "http://127.0.0.1:4318"
    assert settings.otel.service_name == "cookcam-eu"
    with pytest.raises(SettingsError) as refused:
        load_settings({**DEV, "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, None)
    assert refused.value.problems == ["OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"]
