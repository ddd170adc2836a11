"""Schema fuzzing (issue 15, item 20): every operation of the app's own OpenAPI document is called with requests
schemathesis generates from it, valid ones and ones that break the document (wrong types, out-of-range numbers,
odd characters), against the app in-process (ASGI) on the test PostgreSQL, as a signed-up user.

The rules: no answer is a 5xx except a 503 in the error envelope with a Retry-After (the designed "temporarily
unavailable / not configured" answers: DATABASE_UNAVAILABLE, AI_PROVIDER_UNCONFIGURED, STRIPE_UNCONFIGURED, ...;
the test app has no provider credentials, so those routes answer them); and every answer is one the document
describes (issue 16, item 4): its status is documented for the operation, its content type and its body match
that response's schema (the error envelope for every error status: app/web/openapi.py).

Budget: FUZZ_EXAMPLES examples per operation and generation mode (default below, sized for `./dev test`); a deep
pass by hand: `FUZZ_EXAMPLES=100 .venv/bin/pytest -n 0 --no-cov tests/integration/test_schema_fuzzing.py` (and
FUZZ_SEED=1, 2, ... for other requests). Generation is seeded (the same requests every run) and keeps no example
database."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass

import msgspec
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.server import create_app
from app.settings import AnalyticsSettings, CreatorSettings, RateLimitSettings
from tests.conftest import make_settings
from tests.support import PASSWORD, new_email

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SIGNUP = "/api/v1/auth/signup"
ME = "/api/v1/auth/me"
SEED = int(os.environ.get("FUZZ_SEED", "0"))
_NO_LIMITS = 10**9
# Seeded with FUZZ_SEED, not derandomized: a derandomized run draws its seed from the test function's source, so
# editing this file would change the requests. No example database, no deadline (a slow call is not a failure
# here), no health checks (some operations' schemas make generation discard a lot), and no shrinking: the first
# 5xx of an operation is reported as it was sent.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# The answer as documented: the status, the content type and the body's schema.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Finding:
    operation: str
    request: str
    status: int
    body: str
    problem: str


def _signed_up(client: asgi.ASGIClient) -> dict[str, str]:
    signup = client.post(SIGNUP, json={"email": new_email(), "password": PASSWORD, "name": "Fuzz"})
    assert signup.status_code == 201, signup.text
    return {"Authorization": f"Bearer {signup.json()['access_token']}"}


def _allowed(status: int, headers: dict[str, list[str]], body: bytes) -> bool:
    if status < 500:
        return True
    if status != 503 or not any(name.lower() == "retry-after" for name in headers):
        return False
    try:
        envelope = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return isinstance(envelope, dict) and envelope.get("code") not in (None, "INTERNAL_ERROR")


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    client: asgi.ASGIClient,
    token: dict[str, str],
    statuses: Counter[int],  # by status, of this operation's calls
) -> Finding | None:
    """Call `operation` with EXAMPLES generated cases; the first one answered with a 5xx it may not answer or with
    an answer the document does not describe."""
    found: list[Finding] = []

    @seed(SEED)
    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(session=client, headers=token)
        statuses[response.status_code] += 1
        if found:
            return
        problem = None if _allowed(response.status_code, response.headers, response.content) else "a 5xx"
        try:
            case.validate_response(response, checks=CONFORMANCE, headers=token)
        except FailureGroup as failures:
            problem = "; ".join(f"{failure.title}: {failure.message}"[:400] for failure in failures.exceptions)
        if problem is not None:
            request = f"{case.as_curl_command()}  (with the account's bearer token)"
            body = response.content[:500].decode("utf-8", "replace")
            label = f"{operation.method.upper()} {operation.path}"
            found.append(Finding(label, request, response.status_code, body, problem))

    # A mode may have no case at all (a negative one for an operation without inputs): the caller checks that
    # every operation was called in some mode.
    with contextlib.suppress(Unsatisfiable):
        call()
    return found[0] if found else None


def test_every_answer_is_documented_and_none_is_a_5xx(database_url: str) -> None:
    app = create_app(
        make_settings(
            database_url,
            ratelimit=RateLimitSettings(
                per_account=_NO_LIMITS,
                per_address=_NO_LIMITS,
                emails_per_account=_NO_LIMITS,
                refresh_per_session=_NO_LIMITS,
                refresh_per_address=_NO_LIMITS,
            ),
            analytics=AnalyticsSettings(events_per_minute=_NO_LIMITS, events_per_day=_NO_LIMITS),
            creators=CreatorSettings(clicks_per_address_per_minute=_NO_LIMITS),
        )
    )
    findings: list[Finding] = []
    statuses: dict[str, Counter[int]] = {}
    try:
        schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
        # Reports show requests as sent (schemathesis would mask values of fields named like `session_id`); the
        # token is left out of them.
        schema.config.output.sanitization.update(enabled=False)
        with asgi.get_client(app) as client:
            operations = [result.ok() for result in schema.get_all_operations()]
            token: dict[str, str] = {}
            for operation in operations:
                # One account while its token works; an operation that ended its sessions (sign out everywhere,
                # the account deleted) leaves the next one a new account rather than 401s.
                if not token or client.get(ME, headers=token).status_code == 401:
                    token = _signed_up(client)
                statuses[f"{operation.method.upper()} {operation.path}"] = counts = Counter[int]()
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    finding = _fuzz(operation, mode, client, token, counts)
                    if finding is not None:
                        findings.append(finding)
                        break  # one report per operation
    finally:
        asgi.shutdown_lifespans()

    uncalled = [label for label, counts in statuses.items() if not counts]
    assert not uncalled, f"operations never called: {uncalled}"
    # The calls were worth making: most got past authentication (the token worked), and rate limits took at most
    # a share of any one operation's calls (the affiliate click limit, 60 a minute per network, is not a setting:
    # a deep run meets it).
    total = sum(statuses.values(), Counter[int]())
    assert total[401] < total.total() // 2, f"too few calls got past authentication: {dict(total)}"
    limited = [label for label, counts in statuses.items() if counts[429] * 2 > counts.total()]
    assert not limited, f"rate limits took most calls of {limited}: {[dict(statuses[label]) for label in limited]}"
    report = "\n\n".join(f"{f.operation}: {f.status} ({f.problem})\n  {f.request}\n  -> {f.body}" for f in findings)
    assert not findings, f"{len(findings)} operation(s) answered a 5xx or undocumented:\n\n{report}"
