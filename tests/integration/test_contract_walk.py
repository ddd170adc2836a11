"""The contract walk (issue 12): every method and path of the shipped app's contract (../shared/api-contract.md, read
with test_api_contract.py's helpers) is called, in the order the app calls them (sign up, profile, scan, recipes,
gamification, analytics, subscriptions and purchases, creators, the account deleted last), against one app whose
providers are the loopback fakes: the OpenAI-compatible AI, Stripe's API, an App Store signing chain, Google Play
and Pub/Sub. Webhooks arrive signed as the providers sign them.

Every call must answer 2xx (exactly the status the contract names, where it names one); every body whose fields the
contract names must carry each of them, nested ones included; and the calls made must be exactly the contract's,
so a path added to the document without a step fails here, and so does a step whose path left it. Every answer is
also one the app's OpenAPI document describes (issue 16, item 4): its status documented, its body of that schema;
with the providers' fakes this reaches the success bodies the schema fuzzing cannot (it runs without providers)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import schemathesis
from litestar.testing import AsyncTestClient

from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from app.server import create_app
from app.settings import AiSettings, AppleSettings, CreatorSettings, GoogleSettings, HttpSettings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.apple import APP_APPLE_ID, DAY_MS, AppleSigner, now_ms
from tests.fakes.google import PUBSUB_PUSH_EMAIL, FakeGoogle, NotificationType, fake_google
from tests.fakes.openai import API_KEY, fake_openai
from tests.fakes.stripe_api import FakeStripe, fake_stripe
from tests.integration.billing.conftest import TEST_SECRET_KEY
from tests.integration.billing.stripe_support import SECRET, signature
from tests.integration.billing.test_google_store import AUDIENCE
from tests.integration.billing.test_stripe_webhook import subscription_event
from tests.integration.creators.test_payouts import URLS
from tests.integration.recipes.test_generation import RECIPE, ideas
from tests.integration.scan.test_scan import FAST, as_base64, model_reply, picture
from tests.integration.test_api_contract import _contract, _template, contract_calls, contract_fields
from tests.support import PASSWORD, bearer, new_email

# --- reading the bodies the contract names ---------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of a body as the contract writes it: `name`, `name?` (may be null), `name[]` / `name[3]` (a list, of
    exactly 3), `name{...}` / `name[{...}]` (nested fields), `name: Shape` / `name: Shape[]`, `name: true`."""

    name: str
    optional: bool = False
    many: bool = False
    count: int | None = None
    fields: dict[str, Field] | None = None
    shape: str | None = None
    literal: bool | None = None


Body = dict[str, Field]


@dataclass(frozen=True)
class Expected:
    status: int | None  # the status the contract names ("201 AuthResponse", "204 — ..."), else any 2xx
    body: Body | None  # the fields it names, if it names any


_SHAPE = re.compile(r"^(\w+) = (\{.*?\})$", re.MULTILINE | re.DOTALL)
_ITEM = re.compile(r"(\w+)(\?)?(?:\[(\d*)\])?(\?)?")


def _closing(text: str, start: int) -> int:
    """The index of the bracket that closes the one at `start`."""
    depth = 0
    for index in range(start, len(text)):
        depth += text[index] in "{["
        depth -= text[index] in "}]"
        if depth == 0:
            return index
    raise ValueError(f"unbalanced: {text[start : start + 80]!r}")


def _items(inner: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in inner + ",":
        depth += char in "{["
        depth -= char in "}]"
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [item for item in items if item]


def parse_body(text: str) -> Body:
    """`{a, b?, c?[], d[3]{x, y}, e[{x, y}], f: Shape, g: Shape[], h: true, i x|y (a comment), ...}`; the text starts
    with its `{`. What follows a field's name and type (enum values, ranges, remarks) is not a field."""
    fields: Body = {}
    for item in _items(text[1 : _closing(text, 0)]):
        match = _ITEM.match(item)
        if match is None:  # "..."
            continue
        name, optional, count, optional_after = match.groups()
        field = Field(name, optional=bool(optional or optional_after), many=count is not None)
        field = dataclasses.replace(field, count=int(count) if count else None)
        rest = item[match.end() :].lstrip()
        if rest.startswith("[{"):
            field, rest = dataclasses.replace(field, many=True), rest[1:]
        if rest.startswith("{"):
            field = dataclasses.replace(field, fields=parse_body(rest))
        elif rest.startswith(":"):
            kind = re.match(r":\s*(\w+)(\[\])?", rest)
            assert kind is not None, item
            if kind[1] in ("true", "false"):
                field = dataclasses.replace(field, literal=kind[1] == "true")
            else:
                field = dataclasses.replace(field, shape=kind[1], many=field.many or bool(kind[2]))
        fields[name] = field
    return fields


def contract_shapes(text: str) -> dict[str, Body]:
    """Each `Name = {...}` definition, nested fields included."""
    return {name: parse_body(body) for name, body in _SHAPE.findall(text)}


def _described(cell: str, shapes: dict[str, Body]) -> Expected:
    """A table's "2xx body" cell: an optional status, then `{fields}`, a shape's name, or words."""
    match = re.match(r"(?:(\d{3})\b)?\s*(.*)", cell, re.DOTALL)
    assert match is not None
    status, rest = int(match[1]) if match[1] else None, match[2]
    if rest.startswith("{"):
        return Expected(status, parse_body(rest))
    name = re.match(r"(\w+)(\[\])?", rest)
    if name and name[1] in shapes and not name[2]:
        return Expected(status, shapes[name[1]])
    return Expected(status, None)  # "every record the user owns", Achievement[] (not defined), ...


def contract_bodies(text: str, shapes: dict[str, Body]) -> dict[tuple[str, str], Expected]:
    """What the document says each call answers: its tables' "2xx body" column and its `call {request} -> {body}`
    sentences (a sentence's calls are those since the previous `·`, paragraph or `-> {...}`). A row naming a shape
    answers `shapes`' definition of it."""
    bodies: dict[tuple[str, str], Expected] = {}
    for row in re.findall(r"^\|(.*)\|\s*$", text, re.MULTILINE):
        cells = [cell.strip() for cell in re.split(r"\s\|\s", row.strip())]
        calls = contract_calls(cells[0])
        if len(cells) == 3 and calls:
            bodies.update(dict.fromkeys(calls, _described(cells[2], shapes)))
    previous = 0
    for arrow in re.finditer(r"->\s*\{", text):
        opening = arrow.end() - 1
        start = max(previous, text.rfind("·", 0, arrow.start()), text.rfind("\n\n", 0, arrow.start()))
        body = Expected(None, parse_body(text[opening:]))
        bodies.update(dict.fromkeys(contract_calls(text[start : arrow.start()]), body))
        previous = _closing(text, opening)
    return bodies


# Bodies the document names in another way than above, and the contract text each step checks them against.
SAME_AS = {("POST", "/api/v1/scan/ingredients"): ("POST", "/api/v1/scan/analyze")}  # its row: "same as analyze"
NAMED_ELSEWHERE = {
    ("GET", "/api/v1/users/profile"): "User",  # "GET/PUT /users/profile": the account /auth/me answers
    ("PUT", "/api/v1/users/profile"): "User",
    ("GET", "/api/v1/users/subscription"): "UserSubscription",
    ("GET", "/api/v1/recipes/{}"): "Recipe",  # the resource the Recipe shape describes
}


def expected_answers(text: str) -> dict[tuple[str, str], Expected]:
    shapes = contract_shapes(text)
    answers = {call: _resolved(expected, shapes) for call, expected in contract_bodies(text, shapes).items()}
    for call, same in SAME_AS.items():
        answers[call] = answers[same]
    for call, shape in NAMED_ELSEWHERE.items():
        answers[call] = Expected(None, _resolve(shapes[shape], shapes))
    return answers


def _resolved(expected: Expected, shapes: dict[str, Body]) -> Expected:
    """Shapes named inside a body replaced by their definitions."""
    if expected.body is None:
        return expected
    return Expected(expected.status, _resolve(expected.body, shapes))


def _resolve(body: Body, shapes: dict[str, Body]) -> Body:
    resolved = {}
    for name, field in body.items():
        inner = field.fields if field.fields is not None else shapes.get(field.shape or "")
        resolved[name] = dataclasses.replace(field, fields=_resolve(inner, shapes) if inner is not None else None)
    return resolved


def missing(value: Any, body: Body, where: str = "") -> list[str]:
    """What `value` lacks of `body`: absent fields, wrong literals, and nested fields (a nested object or list may be
    null only where the contract writes `?`; a nested list must hold something to check, and exactly `[n]` items
    where the contract says so)."""
    if not isinstance(value, dict):
        return [f"{where.rstrip('.') or 'body'}: {value!r} is not an object"]
    problems = []
    for name, field in body.items():
        if name not in value:
            problems.append(f"{where}{name}")
            continue
        found = value[name]
        if field.literal is not None and found is not field.literal:
            problems.append(f"{where}{name}: {found!r}, not {field.literal!r}")
        if field.fields is None or (found is None and field.optional):
            continue
        if not field.many:
            problems += missing(found, field.fields, f"{where}{name}.")
        elif not isinstance(found, list) or not found:
            problems.append(f"{where}{name}: {found!r}, no items to check")
        elif field.count is not None and len(found) != field.count:
            problems.append(f"{where}{name}: {len(found)} items, not {field.count}")
        else:
            for index, item in enumerate(found):
                problems += missing(item, field.fields, f"{where}{name}[{index}].")
    return problems


def test_the_contract_bodies_are_read_as_expected() -> None:
    """Guards the parsing above: a change of the document's style must not make the walk's checks vacuous."""
    text = _contract()
    shapes = contract_shapes(text)
    assert {name: set(body) for name, body in shapes.items()} == contract_fields(text)
    nutrition = shapes["Recipe"]["nutrition_info"]
    assert nutrition.optional
    assert set(nutrition.fields or ()) == {"calories", "protein", "carbs", "fat", "fiber", "sodium"}
    assert shapes["User"]["kitchen_appliances"] == Field("kitchen_appliances", optional=True, many=True)
    bodies = contract_bodies(text, shapes)
    assert set(bodies) | set(SAME_AS) | set(NAMED_ELSEWHERE) <= contract_calls(text)
    assert set(NAMED_ELSEWHERE.values()) <= set(shapes)
    assert len(bodies) >= 25  # 19 table rows and 6 calls with `-> {...}` today

    def body(method: str, path: str) -> Body:
        found = bodies[(method, path)].body
        assert found is not None, path
        return found

    analyze = body("POST", "/api/v1/scan/analyze")
    assert set(analyze) == {"scan_id", "ingredients", "confidence_score", "xp_awarded"}
    assert (analyze["ingredients"].shape, analyze["ingredients"].many) == ("DetectedIngredient", True)
    assert body("GET", "/api/v1/scan/history")["scans"] == Field("scans", many=True, shape="ScanResult")
    assert re.search(r"\| POST /scan/ingredients \|.*\| same as analyze \|", text)  # what SAME_AS says
    previews = body("POST", "/api/v1/recipes/generate-previews")
    assert set(previews) == {"session_id", "previews", "xp_awarded"}
    assert previews["previews"].count == 3
    named = "id title description estimated_time difficulty cuisine_type main_ingredients appeal_factors"
    assert set(previews["previews"].fields or ()) == set(named.split())
    assert body("POST", "/api/v1/recipes/generate-detailed")["recipe"].shape == "Recipe"
    entries = body("GET", "/api/v1/gamification/leaderboard")["leaderboard"]
    assert entries.many
    entry = {"rank", "user_id", "username", "avatar_url", "total_xp", "period_xp", "level"}
    assert set(entries.fields or ()) == entry
    for path in ("/api/v1/subscription/validate-purchase", "/api/v1/iap/validate-receipt"):
        assert set(body("POST", path)) == {"status", "tier", "expires_at", "environment"}
    assert set(body("POST", "/api/v1/subscription/create-checkout")) == {"checkout_url"}
    assert set(body("POST", "/api/v1/subscription/portal")) == {"portal_url"}
    assert body("POST", "/api/v1/auth/link-referral")["linked"].literal is True
    streak = set(body("POST", "/api/v1/gamification/check-streak"))
    assert streak == {"current_streak", "longest_streak", "freeze_tokens", "extended_today"}
    assert body("GET", "/api/v1/gamification/progress") == shapes["GamificationProfile"]
    assert body("POST", "/api/v1/auth/signin") == shapes["AuthResponse"]
    assert bodies[("POST", "/api/v1/auth/signup")].status == 201
    assert bodies[("POST", "/api/v1/auth/signout")] == Expected(204, None)


# --- the walk ----------------------------------------------------------------------------------------------------


class Walk:
    """Calls the app as the contract writes a path (`/api/v1/recipes/{id}`, its parameters given in order), checks
    the answer, also against the app's own OpenAPI document (the status documented, the body of its schema), and
    remembers which of the contract's calls were made."""

    def __init__(self, client: AsyncTestClient, text: str, document: dict[str, Any]) -> None:
        self.client = client
        self.answers = expected_answers(text)
        self.calls: set[tuple[str, str]] = set()
        self.document = schemathesis.openapi.from_dict(document)
        # Paths with fewer parameters first: the router prefers `/scan/history` to `/scan/{scan_id}`.
        templates = sorted(document["paths"], key=lambda template: template.count("{"))
        self.templates = [(t, re.compile(re.sub(r"\{[^}]*\}", "[^/]+", t))) for t in templates]

    def documented(self, method: str, concrete: str) -> schemathesis.APIOperation | None:
        for template, pattern in self.templates:
            if pattern.fullmatch(concrete) and method.lower() in self.document[template]:
                return self.document[template][method]
        return None

    async def __call__(
        self, method: str, path: str, *ids: object, auth: dict | None = None, **request: Any
    ) -> httpx.Response:
        assert path.count("{") == len(ids), (path, ids)
        values = iter(ids)
        concrete = re.sub(r"\{[^}]*\}", lambda _: str(next(values)), path)
        headers = {**(bearer(auth) if auth else {}), **request.pop("headers", {})}
        response = await self.client.request(method, concrete, headers=headers, **request)
        call = (method, _template(path))
        self.calls.add(call)
        assert 200 <= response.status_code < 300, (method, concrete, response.status_code, response.text)
        expected = self.answers.get(call)
        if expected is not None and expected.status is not None:
            assert response.status_code == expected.status, (method, concrete, response.status_code)
        if expected is not None and expected.body is not None:
            assert missing(response.json(), expected.body) == [], (method, concrete)
        operation = self.documented(method, concrete.split("?")[0])
        if operation is not None:  # /schema is the viewer, not an operation
            assert operation.responses.find_by_status_code(response.status_code), (method, concrete, "undocumented")
            operation.validate_response(response)
        return response


def _model_answer(request: dict[str, Any]) -> Any:
    """What the fake model answers, by the structured output asked for."""
    schema = request["response_format"]["json_schema"]["name"]
    answers = {
        "ModelScan": model_reply(("chicken thigh", 0.9), ("coconut milk", 0.8), ("curry paste", 0.7)),
        "ModelPreviews": ideas(),
        "ModelRecipe": RECIPE,
    }
    return answers[schema]


@dataclass
class Providers:
    stripe: FakeStripe
    google: FakeGoogle
    apple: AppleSigner


STRIPE_PRICES = {"cookcam_creator_monthly": "price_1", "cookcam_creator_yearly": "price_cre_y"}
METRICS_TOKEN = "scrape-token-" + "w" * 32


@pytest.fixture
async def world(database_url: str, db: asyncpg.Connection, tmp_path) -> AsyncIterator[tuple[Walk, Providers]]:
    await load_ingredients(db, read_catalog())
    await load_recipes(db, read_recipes())
    apple = AppleSigner()
    root = apple.write_root(tmp_path / "AppleRootCA-test.cer")
    with fake_openai() as openai, fake_stripe(STRIPE_PRICES) as (stripe_url, stripe), fake_google() as google:
        openai.respond = _model_answer
        settings = msgspec.structs.replace(
            make_settings(database_url),
            http=HttpSettings(metrics_token=METRICS_TOKEN),
            ai=AiSettings(base_url=openai.base_url, api_key=API_KEY, timeout_seconds=2.0),
            outbound=FAST,
            stripe=StripeSettings(secret_key=TEST_SECRET_KEY, api_base=stripe_url, webhook_secret=SECRET),
            apple=AppleSettings(root_certificates=(str(root),), app_apple_id=APP_APPLE_ID),
            # The walk pays the creator out at once: no hold on store earnings here (test_earning_rules.py tests it).
            creators=CreatorSettings(hold_days_apple=0, hold_days_google=0),
            google=GoogleSettings(
                service_account_file=str(google.write_service_account(tmp_path / "service-account.json")),
                androidpublisher_base=google.base_url,
                rtdn_audience=AUDIENCE,
                rtdn_service_account_email=PUBSUB_PUSH_EMAIL,
                oidc_certs_url=google.certs_url,
            ),
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            document = (await client.get("/schema/openapi.json")).json()
            yield Walk(client, _contract(), document), Providers(stripe, google, apple)


async def _sign_up(walk: Walk, name: str) -> dict:
    body = {"email": new_email(), "password": PASSWORD, "name": name}
    auth: dict = (await walk("POST", "/api/v1/auth/signup", json=body)).json()
    return auth


async def _account(walk: Walk) -> dict:
    cook = await _sign_up(walk, "Walk Cook")
    credentials = {"email": cook["user"]["email"], "password": PASSWORD}
    session = (await walk("POST", "/api/v1/auth/signin", json=credentials)).json()
    renewed = (await walk("POST", "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})).json()
    await walk("POST", "/api/v1/auth/signout", auth=renewed, json={"refresh_token": renewed["refresh_token"]})
    await walk("GET", "/api/v1/auth/me", auth=cook)
    await walk("PUT", "/api/v1/auth/profile", auth=cook, json={"name": "Walk Cook", "onboarding_completed": True})
    await walk("GET", "/api/v1/users/profile", auth=cook)
    await walk("PUT", "/api/v1/users/profile", auth=cook, json={"avatar_url": "https://cdn.cookcam.app/a/1.jpg"})
    await walk("GET", "/api/v1/users/preferences", auth=cook)
    preferences = {"default_serving_size": 2, "dietary_preferences": ["vegetarian"], "kitchen_appliances": ["oven"]}
    await walk("PUT", "/api/v1/users/preferences", auth=cook, json=preferences)
    await walk("GET", "/api/v1/users/subscription", auth=cook)
    return cook


async def _social(walk: Walk, cook: dict, friend: dict) -> None:
    friend_id = friend["user"]["id"]
    await walk("GET", "/api/v1/users", auth=cook, params={"search": "Walk Fri", "limit": 10})
    await walk("GET", "/api/v1/users/{id}", friend_id, auth=cook)
    await walk("POST", "/api/v1/users/{id}/follow", friend_id, auth=cook)
    await walk("GET", "/api/v1/users/{id}/followers", friend_id, auth=cook)
    await walk("GET", "/api/v1/users/{id}/following", cook["user"]["id"], auth=cook)


async def _scan(walk: Walk, cook: dict) -> list[dict]:
    analyzed = await walk("POST", "/api/v1/scan/analyze", auth=cook, json={"image_data": as_base64(picture())})
    raw = {"Content-Type": "image/png"}
    await walk("POST", "/api/v1/scan/ingredients", auth=cook, headers=raw, content=picture("PNG", (300, 200)))
    await walk("GET", "/api/v1/scan/history", auth=cook, params={"limit": 10, "offset": 0})
    scan_id = analyzed.json()["scan_id"]
    await walk("GET", "/api/v1/scan/{scan_id}", scan_id, auth=cook)
    ingredients: list[dict] = analyzed.json()["ingredients"]
    corrected = [*ingredients[:2], {**ingredients[2], "name": "red curry paste", "quantity": 2, "unit": "tbsp"}]
    await walk("PUT", "/api/v1/scan/{scan_id}/ingredients", scan_id, auth=cook, json={"ingredients": corrected})
    return corrected


async def _ingredients(walk: Walk, cook: dict) -> None:
    await walk("GET", "/api/v1/ingredients/search", auth=cook, params={"q": "tomatoe", "limit": 5})
    page = await walk("GET", "/api/v1/ingredients", auth=cook, params={"page": 1, "limit": 5, "category": "vegetable"})
    await walk("GET", "/api/v1/ingredients/{id}", page.json()["ingredients"][0]["id"], auth=cook)
    await walk("GET", "/api/v1/ingredients/categories", auth=cook)


async def _recipes(walk: Walk, cook: dict, detected: list[dict]) -> str:
    names = [item["name"] for item in detected]
    await walk("POST", "/api/v1/recipes/suggestions", auth=cook, json={"ingredients": names, "limit": 3})
    preferences = {
        "serving_size": 2,
        "cuisine_preferences": ["thai"],
        "dietary_tags": [],
        "selected_appliances": ["stove"],
        "time_available": 45,
        "skill_level": "beginner",
        "meal_prep_enabled": False,
        "meal_prep_portions": 1,
        "meal_type": "dinner",
    }
    offer = {"detected_ingredients": detected, "user_preferences": preferences}
    offered = (await walk("POST", "/api/v1/recipes/generate-previews", auth=cook, json=offer)).json()
    pick = {"session_id": offered["session_id"], "selected_preview": offered["previews"][0]}
    recipe_id = (await walk("POST", "/api/v1/recipes/generate-detailed", auth=cook, json=pick)).json()["recipe"]["id"]
    await walk("POST", "/api/v1/recipes/generate-full", auth=cook, json=offer)
    older = (await walk("POST", "/api/v1/recipes/generate", auth=cook, json=offer)).json()["recipe"]["id"]
    await walk("GET", "/api/v1/recipes", auth=cook, params={"limit": 20, "offset": 0})
    await walk("GET", "/api/v1/recipes/{id}", recipe_id, auth=cook)
    await walk("POST", "/api/v1/recipes/{id}/favorite", recipe_id, auth=cook)
    await walk("POST", "/api/v1/recipes/{id}/save", recipe_id, auth=cook)
    await walk("GET", "/api/v1/recipes/saved/my", auth=cook, params={"limit": 20, "offset": 0})
    await walk("POST", "/api/v1/recipes/{id}/rate", recipe_id, auth=cook, json={"rating": 5})
    await walk("GET", "/api/v1/recipes/{id}/nutrition", recipe_id, auth=cook, params={"servings": 4})
    await walk("POST", "/api/v1/recipes/{id}/variations", recipe_id, auth=cook, json={"count": 3})
    await walk("DELETE", "/api/v1/recipes/{id}", older, auth=cook)
    return recipe_id


async def _gamification(walk: Walk, cook: dict, recipe_id: str) -> None:
    claim = {"action": "recipe_cooked", "metadata": {"recipe_id": recipe_id}, "xp_amount": 10_000}
    await walk("POST", "/api/v1/gamification/add-xp", auth=cook, json=claim)
    await walk("GET", "/api/v1/gamification/progress", auth=cook)
    await walk("GET", "/api/v1/gamification/leaderboard", auth=cook, params={"period": "weekly", "limit": 10})
    await walk("POST", "/api/v1/gamification/check-streak", auth=cook)
    await walk("GET", "/api/v1/gamification/achievements", auth=cook)
    event = {"event_type": "recipe_viewed", "event_data": {"recipe_id": recipe_id}, "metadata": {"screen": "detail"}}
    await walk("POST", "/api/v1/analytics/track", auth=cook, json=event)
    await walk("GET", "/api/v1/analytics/dashboard", auth=cook, params={"period": "week"})


async def _stripe_subscription(walk: Walk, cook: dict, stripe: FakeStripe) -> None:
    """Checkout, then what Stripe does once it is paid: the subscription exists at Stripe and its signed
    customer.subscription.created event arrives."""
    await walk("GET", "/api/v1/subscription/tiers")
    await walk("GET", "/api/v1/subscription/products")
    checkout = {
        "tier": "creator",
        "billing_period": "monthly",
        "success_url": "cookcam://subscription/done",
        "cancel_url": "cookcam://subscription/cancelled",
    }
    await walk("POST", "/api/v1/subscription/create-checkout", auth=cook, json=checkout)
    (customer,) = stripe.customers
    event = msgspec.json.decode(
        subscription_event(cook["user"]["id"], status="trialing", created=int(time.time()), kind="created")
    )
    subscription = event["data"]["object"]
    subscription["customer"] = customer
    subscription["items"]["data"][0]["id"] = "si_walk"
    stripe.subscriptions[subscription["id"]] = subscription
    payload = msgspec.json.encode(event)
    signed = {"Content-Type": "application/json", "Stripe-Signature": signature(payload)}
    delivered = await walk("POST", "/api/v1/subscription/webhook/stripe", headers=signed, content=payload)
    assert delivered.json()["outcome"] == "processed"
    await walk("GET", "/api/v1/subscription/status", auth=cook)
    await walk("POST", "/api/v1/subscription/portal", auth=cook, json={"return_url": "cookcam://subscription"})
    change = {"tier": "creator", "billing_period": "yearly"}
    await walk("POST", "/api/v1/subscription/change-tier", auth=cook, json=change)


async def _creator(walk: Walk, cook: dict, providers: Providers) -> None:
    """The cook, a creator now, shares a link; two people sign up through it and subscribe in the stores (their
    notifications arrive signed); the cook's share of those subscriptions is paid out through Stripe Connect."""
    link = await walk("POST", "/api/v1/subscription/affiliate/generate", auth=cook, json={"custom_slug": "walk-cook"})
    code = link.json()["code"]
    await walk("GET", "/api/v1/subscription/affiliate/links", auth=cook)
    await walk("POST", "/api/v1/subscription/affiliate/track/{code}", code, headers={"User-Agent": "CookCam/3.1 iOS"})
    referred = {"referral_code": "walk-cook"}

    apple_fan = await _sign_up(walk, "Walk Apple Fan")
    await walk("POST", "/api/v1/auth/link-referral", auth=apple_fan, json=referred)
    # Production purchases: sandbox ones (TestFlight, App Review) earn a creator nothing.
    transaction = providers.apple.transaction(productId="com.cookcam.pro.yearly", environment="Production")
    proof = {"platform": "ios", "signed_transaction": providers.apple.sign(transaction)}
    await walk("POST", "/api/v1/subscription/validate-purchase", auth=apple_fan, json=proof)
    renewed = providers.apple.transaction(
        originalTransactionId=transaction["originalTransactionId"],
        productId="com.cookcam.pro.yearly",
        purchaseDate=now_ms(),
        expiresDate=now_ms() + 365 * DAY_MS,
        environment="Production",
    )
    renewal = providers.apple.renewal_info(renewed)
    notification = providers.apple.notification(
        "DID_RENEW", transaction=renewed, renewal_info=renewal, environment="Production"
    )
    assert (await walk("POST", "/api/v1/iap/notifications/apple", json=notification)).json()["outcome"] == "processed"

    google = providers.google
    google_fan = await _sign_up(walk, "Walk Google Fan")
    await walk("POST", "/api/v1/auth/link-referral", auth=google_fan, json=referred)
    google.add_subscription("walk-token", product_id="com.cookcam.pro.monthly")
    token = {"platform": "android", "purchase_token": "walk-token", "product_id": "com.cookcam.pro.monthly"}
    await walk("POST", "/api/v1/iap/validate-receipt", auth=google_fan, json=token)
    push = google.push_body(google.subscription_notification("walk-token", NotificationType.RENEWED))
    pubsub = {"Authorization": f"Bearer {google.pubsub_token(audience=AUDIENCE)}"}
    pushed = await walk("POST", "/api/v1/iap/notifications/google", headers=pubsub, json=push)
    assert pushed.json()["outcome"] == "processed"

    await walk("GET", "/api/v1/subscription/creator/revenue", auth=cook)
    await walk("GET", "/api/v1/subscription/creator/analytics", auth=cook)
    await walk("GET", "/api/v1/subscription/creator/balance", auth=cook)
    await walk("POST", "/api/v1/subscription/creator/stripe/onboard", auth=cook, json=URLS)
    (account,) = providers.stripe.accounts
    providers.stripe.enable_payouts(account)  # the creator finished Stripe's onboarding
    await walk("GET", "/api/v1/subscription/creator/stripe/status", auth=cook, params={"refresh": "true"})
    await walk("POST", "/api/v1/subscription/creator/payout", auth=cook)


async def test_every_call_of_the_contract_answers_2xx_with_the_fields_it_names(world) -> None:
    walk, providers = world
    await walk("GET", "/health")
    await walk("GET", "/ready")
    cook = await _account(walk)
    friend = await _sign_up(walk, "Walk Friend")
    await _social(walk, cook, friend)
    detected = await _scan(walk, cook)
    await _ingredients(walk, cook)
    recipe_id = await _recipes(walk, cook, detected)
    await _gamification(walk, cook, recipe_id)
    await _stripe_subscription(walk, cook, providers.stripe)
    await _creator(walk, cook, providers)
    await walk("POST", "/api/v1/subscription/refresh-status", auth=cook)
    await walk("POST", "/api/v1/subscription/cancel", auth=cook)
    await walk("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    await walk("GET", "/schema")
    await walk("GET", "/api/v1/auth/export", auth=cook)
    await walk("DELETE", "/api/v1/auth/account", auth=cook, json={"confirm_password": PASSWORD})

    contract = contract_calls(_contract())
    assert sorted(contract - walk.calls) == [], "contract calls the walk does not make"
    assert sorted(walk.calls - contract) == [], "calls the walk makes that the contract no longer names"
