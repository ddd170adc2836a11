from __future__ import annotations

import pytest

from app.settings import (
    DEVELOPMENT_JWT_SECRET,
    DEVELOPMENT_RECEIPT_KEY,
    SettingsError,
    load_settings,
    read_env_file,
    read_environment,
    redacted,
    unknown_variables,
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


def test_a_previous_metrics_token_needs_a_current_one() -> None:
    """Alone it would leave /metrics open (no token required) while looking protected."""
    with pytest.raises(SettingsError, match="HTTP_METRICS_PREVIOUS_TOKEN needs HTTP_METRICS_TOKEN"):
        load_settings({**DEV, "HTTP_METRICS_PREVIOUS_TOKEN": "x" * 40})


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


def test_env_file_is_read_as_a_shell_would_and_the_environment_wins(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n"
        "export HTTP_PORT=9100\n"
        "LOG_LEVEL=DEBUG  # verbose while we look\n"
        "JWT_SECRET='a#b ${HOME} $x'\n"
        'MAIL_FROM_ADDRESS="CookCam <hi@cookcam.app>" # quoted, then a comment\n'
        "\n"
        "HTTP_WORKERS=3\n"
    )
    assert read_env_file(env_file) == {
        "HTTP_PORT": "9100",
        "LOG_LEVEL": "DEBUG",
        "JWT_SECRET": "a#b ${HOME} $x",
        "MAIL_FROM_ADDRESS": "CookCam <hi@cookcam.app>",
        "HTTP_WORKERS": "3",
    }
    monkeypatch.setenv("HTTP_WORKERS", "5")
    monkeypatch.setenv("APP_ENV", "development")
    settings = load_settings(read_environment(env_file))
    assert (settings.http.port, settings.log_level, settings.http.workers) == (9100, "DEBUG", 5)


def test_variables_that_look_like_ours_but_are_no_setting_are_warned_about_with_the_closest_name() -> None:
    environ = {
        "STRIPE_WEBHOOK_SECRT": "whsec",
        "STRIPE_WEBHOOK_SECRET": "whsec",
        "jwt_secret": "lower case is not read",
        "RATELIMIT_BUCKETS": "9",
        "HTTP_PROXY": "http://proxy:3128",
        "http_proxy": "http://proxy:3128",
        "GOOGLE_APPLICATION_CREDENTIALS": "/key.json",
        "LOGFIRE_SEND_TO_LOGFIRE": "false",
        "LOGFIRE_TOKN": "x",
        "PATH": "/usr/bin",
        "APP_ENV": "development",
    }
    assert unknown_variables(environ) == [
        "LOGFIRE_TOKN is not a setting and is ignored; did you mean LOGFIRE_TOKEN?",
        "RATELIMIT_BUCKETS is not a setting and is ignored",
        "STRIPE_WEBHOOK_SECRT is not a setting and is ignored; did you mean STRIPE_WEBHOOK_SECRET?",
        "jwt_secret is not a setting and is ignored; did you mean JWT_SECRET?",
    ]


def test_a_refused_value_is_shown_with_what_is_accepted_and_secrets_and_passwords_are_not() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                **PRODUCTION_OK,
                "HTTP_PORT": "eighty",
                "MAIL_SMTP_TLS": "ssl",
                "JOBS_SCHEDULER_ENABLED": "maybe",
                "HTTP_TRUSTED_PROXIES": "10.0.0.1",
                "CREATORS_HOLD_DAYS_APPLE": "90.5",
                "STRIPE_API_BASE": "http://rk_live_key:hunter2@stripe.test",
                "JWT_SECRET": "short-secret",
            }
        )
    assert raised.value.problems[:4] == [
        "HTTP_PORT='eighty' is not a whole number",
        "MAIL_SMTP_TLS='ssl' is not one of none, starttls, tls",
        "JOBS_SCHEDULER_ENABLED='maybe' is not true or false",
        "CREATORS_HOLD_DAYS_APPLE='90.5' is not a whole number",
    ]
    text = str(raised.value)
    assert "STRIPE_API_BASE must be https in production, not 'http://rk_live_key:***@stripe.test'" in text
    assert "JWT_SECRET must be at least 32 characters in production (it has 12)" in text
    assert "hunter2" not in text and "short-secret" not in text
    with pytest.raises(SettingsError) as raised:
        load_settings({"APP_ENV": "prod"})
    assert raised.value.problems == ["APP_ENV='prod' is not one of development, test, staging, production"]


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
    assert error.value.problems[0] == "SUPABASE_TOKEN_ACCEPT_UNTIL='soon' is not an ISO 8601 date and time"
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
        "SUPABASE_JWKS_URL must be https in production, not 'http://project.supabase.co/auth/v1/.well-known/jwks.json'",
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


def test_staging_and_production_refuse_a_setting_still_holding_the_change_me_placeholder() -> None:
    # The examples (config/, deploy/kubernetes/) mark what the operator must replace with CHANGE_ME; an identifier
    # or token left at it would otherwise start (APPLE_API_KEY_ID, HTTP_METRICS_TOKEN: no other rule covers them).
    with pytest.raises(SettingsError) as raised:
        load_settings({**PRODUCTION_OK, "APPLE_API_KEY_ID": "CHANGE_ME", "HTTP_METRICS_TOKEN": "CHANGE_ME"})
    assert "APPLE_API_KEY_ID still holds the CHANGE_ME placeholder" in str(raised.value)
    assert "HTTP_METRICS_TOKEN still holds the CHANGE_ME placeholder" in str(raised.value)
    assert load_settings({**DEV, "APPLE_API_KEY_ID": "CHANGE_ME"}).apple.api_key_id == "CHANGE_ME"
    assert load_settings({**PRODUCTION_OK, "UNRELATED": "CHANGE_ME"}).is_production_like


def test_the_otlp_endpoint_is_an_http_url_and_the_standard_names_are_read() -> None:
    settings = load_settings(
        {**DEV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "cookcam-eu"}, None
    )
    assert settings.otel.exporter_otlp_endpoint == "http://127.0.0.1:4318"
    assert settings.otel.service_name == "cookcam-eu"
    with pytest.raises(SettingsError) as refused:
        load_settings({**DEV, "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, None)
    assert refused.value.problems == ["OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"]
