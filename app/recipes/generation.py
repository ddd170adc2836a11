"""The previews → detailed flow: three recipe ideas for the user's ingredients and preferences, then the full recipe
for the one they pick. With an AI provider the ideas and recipes are generated (cached, single flight, counted
against the monthly generation limit); without one, the catalog ranked by overlap is the generator."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from app.billing import usage
from app.core.ai import AiProvider
from app.core.errors import AppError, BadGateway, Forbidden, NotFound, Unprocessable
from app.core.limits import period_bounds
from app.db.queries import generation as q
from app.db.queries import users as users_q
from app.db.types import Connection, ConnectionSource
from app.gamification import achievements
from app.gamification.xp import Award, award
from app.ingredients.units import Unit
from app.recipes.cache import cache_key, cached, count_hit
from app.recipes.ranking import CatalogRanking
from app.recipes.schemas import IngredientLine, Recipe, Suggestions, SuggestionsRequest
from app.recipes.service import get_recipe, suggest
from app.settings import Settings

PROMPT_VERSION = "2026-11-25.1"
GENERATION_METRIC = "recipe_generations"
LIMIT_CODE = "RECIPE_LIMIT_REACHED"
OWN_LIMIT_CODE = "OWN_RECIPES_LIMIT_REACHED"
# The most of anything a generated line may ask for, in its own unit (10,000 g, ml or pieces): the model's
# quantities feed the recipe's nutrition, so an absurd one is refused with the reply rather than summed.
MAX_QUANTITY = 10_000
Text = Annotated[str, msgspec.Meta(max_length=40)]
Difficulty = Literal["easy", "medium", "hard"]
MealType = Literal["breakfast", "lunch", "dinner", "snack", "dessert"]

PREVIEW_INSTRUCTIONS = (
    "You are a home-cooking assistant. From the ingredients and preferences in the user's data, propose exactly "
    "three different recipes a home cook could make, using mostly those ingredients plus common pantry staples. "
    "For each: a short title, a one-sentence description, the total time in minutes, a difficulty, the cuisine, "
    "the main ingredients it uses, and two or three reasons it appeals. Respect every dietary tag."
)
VARIATION_INSTRUCTIONS = (
    "You are a home-cooking assistant. Propose the number of variations asked for of the recipe in the user's "
    "data: different dishes in its spirit (another technique, cuisine twist or main ingredient), using mostly its "
    "ingredients plus common pantry staples. For each: a short title, a one-sentence description, the total time "
    "in minutes, a difficulty, the cuisine, the main ingredients it uses, and two or three reasons it appeals."
)
RECIPE_INSTRUCTIONS = (
    "You are a home-cooking assistant. Write the complete recipe for the chosen idea in the user's data, for the "
    "number of servings given, using mostly the listed ingredients plus common pantry staples: every ingredient "
    "with a quantity and a unit (g, kg, oz, lb, ml, l, cup, tbsp, tsp or piece; to_taste with a null quantity for "
    "seasoning), and clear numbered steps with times and temperatures. Respect every dietary tag."
)


class NamedIngredient(msgspec.Struct, frozen=True):
    """A detected ingredient as the app sends it (other fields of a scan result are ignored)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class RecipePreferences(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    serving_size: Annotated[int, msgspec.Meta(ge=1, le=20)] = 2
    cuisine_preferences: Annotated[list[Text], msgspec.Meta(max_length=10)] = []
    dietary_tags: Annotated[list[Text], msgspec.Meta(max_length=10)] = []
    selected_appliances: Annotated[list[Text], msgspec.Meta(max_length=20)] = []
    time_available: Annotated[int, msgspec.Meta(ge=5, le=1440)] | Text | None = None
    skill_level: Text | None = None
    meal_prep_enabled: bool = False
    meal_prep_portions: Annotated[int, msgspec.Meta(ge=1, le=21)] | None = None
    meal_type: MealType | None = None


class PreviewsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    detected_ingredients: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | NamedIngredient],
        msgspec.Meta(min_length=1, max_length=50),
    ]
    user_preferences: RecipePreferences = msgspec.field(default_factory=RecipePreferences)
    session_id: uuid.UUID | None = None  # accepted for the app's sake; every request starts a new session


class Preview(msgspec.Struct, frozen=True):
    id: str
    title: str
    description: str
    estimated_time: int
    difficulty: Difficulty
    cuisine_type: str
    main_ingredients: list[str]
    appeal_factors: list[str]


class PreviewsResponse(msgspec.Struct, frozen=True):
    session_id: uuid.UUID
    previews: list[Preview]
    source: Literal["ai", "catalog"]
    xp_awarded: int = 0  # previews earn none; writing one out does (DetailedResponse)


class IdeasUnavailable(msgspec.Struct, frozen=True):
    code: str
    message: str


class SuggestionsAndIdeas(Suggestions, frozen=True):
    # With include_ai: the AI's ideas as a session for generate-detailed, or why there are none (the catalog's
    # suggestions are answered either way).
    ai_ideas: PreviewsResponse | None = None
    ai_error: IdeasUnavailable | None = None


class SelectedPreview(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class DetailedRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    session_id: uuid.UUID
    selected_preview: SelectedPreview  # only its id is used: the session holds what was offered


class VariationsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3


class DetailedResponse(msgspec.Struct, frozen=True):
    recipe: Recipe
    xp_awarded: int = 0  # recipe_generated, once per session


# --- what the model must answer (strict schema: every field required) ---------------------------------------------


class ModelPreview(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: str
    description: str
    estimated_time: int
    difficulty: Difficulty
    cuisine_type: str
    main_ingredients: list[str]
    appeal_factors: list[str]


class ModelPreviews(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    previews: list[ModelPreview]


class ModelIngredientLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    quantity: float | None
    unit: Unit
    note: str | None


class ModelRecipe(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: str
    description: str
    cuisine: str
    difficulty: Difficulty
    prep_minutes: int
    cook_minutes: int
    servings: int
    ingredients: list[ModelIngredientLine]
    steps: list[str]


@dataclass(frozen=True)
class RecipeSources:
    """Where recipes come from: the AI provider, and the catalog (ranked in memory) as the fallback."""

    connect: ConnectionSource
    ai: AiProvider
    settings: Settings
    ranking: CatalogRanking


def ingredient_names(request: PreviewsRequest) -> list[str]:
    names = {
        " ".join((item if isinstance(item, str) else item.name).lower().split())
        for item in request.detected_ingredients
    }
    return sorted(name for name in names if name)


async def generate_previews(sources: RecipeSources, user_id: uuid.UUID, request: PreviewsRequest) -> PreviewsResponse:
    names = ingredient_names(request)
    if not names:
        raise Unprocessable("INGREDIENTS_REQUIRED", "Send at least one ingredient.")
    normalised = {"ingredients": names, "preferences": msgspec.to_builtins(request.user_preferences)}
    if sources.ai.configured:
        return await _ai_session(
            sources, user_id, normalised, data=normalised, instructions=PREVIEW_INSTRUCTIONS, count=3
        )
    previews = await _catalog_previews(sources, user_id, names, request.user_preferences, limit=3)
    async with sources.connect() as conn:
        return await _offer(conn, user_id, normalised, previews, "catalog")


async def suggestions(sources: RecipeSources, user_id: uuid.UUID, request: SuggestionsRequest) -> SuggestionsAndIdeas:
    """The catalog's suggestions, and with include_ai the AI's ideas beside them (no connection held meanwhile)."""
    async with sources.connect() as conn:
        found = await suggest(conn, sources.ranking, user_id, request)
    answer = SuggestionsAndIdeas(suggestions=found.suggestions, unrecognised=found.unrecognised)
    if not request.include_ai:
        return answer
    if not sources.ai.configured:
        unconfigured = IdeasUnavailable("AI_PROVIDER_UNCONFIGURED", "No AI provider is configured; catalog only.")
        return msgspec.structs.replace(answer, ai_error=unconfigured)
    preferences = RecipePreferences(meal_type=request.meal_type, dietary_tags=list(request.dietary_tags))
    try:
        ideas = await generate_previews(sources, user_id, PreviewsRequest(list(request.ingredients), preferences))
    except AppError as error:  # the limit, the budget or the provider: the catalog still answers
        return msgspec.structs.replace(answer, ai_error=IdeasUnavailable(error.code, str(error)))
    return msgspec.structs.replace(answer, ai_ideas=ideas)


async def generate_full(sources: RecipeSources, user_id: uuid.UUID, request: PreviewsRequest) -> DetailedResponse:
    """The older one-step flows (generate-full, generate): the best idea, written out at once."""
    offered = await generate_previews(sources, user_id, request)
    if not offered.previews:
        raise NotFound("NO_RECIPE_FOUND", "No recipe uses these ingredients; try adding a few more.")
    chosen = DetailedRequest(session_id=offered.session_id, selected_preview=SelectedPreview(offered.previews[0].id))
    return await generate_detailed(sources, user_id, chosen)


async def variations(
    sources: RecipeSources,
    user_id: uuid.UUID,
    *,
    recipe_id: uuid.UUID,
    request: VariationsRequest,
) -> PreviewsResponse:
    """Ideas in the spirit of a recipe the caller can see, as a new session (so generate-detailed can write one
    out): generated, or the catalog's closest other recipes."""
    async with sources.connect() as conn:
        recipe = await get_recipe(conn, user_id, recipe_id)
    names = sorted({line.name for line in recipe.ingredients})
    normalised = {
        "ingredients": names,
        "preferences": msgspec.to_builtins(RecipePreferences(serving_size=min(recipe.servings or 2, 20))),
    }
    if sources.ai.configured:
        data = {**normalised, "variations_of": {"title": recipe.title, "cuisine": recipe.cuisine_type}}
        return await _ai_session(
            sources, user_id, normalised, data=data, instructions=VARIATION_INSTRUCTIONS, count=request.count
        )
    similar = await _catalog_previews(sources, user_id, names, RecipePreferences(), limit=request.count + 1)
    others = [p for p in similar if p.id != str(recipe_id)][: request.count]
    async with sources.connect() as conn:
        return await _offer(conn, user_id, normalised, others, "catalog")


async def _offer(
    conn: Connection,
    user_id: uuid.UUID,
    normalised: dict[str, object],
    previews: list[Preview],
    source: Literal["ai", "catalog"],
) -> PreviewsResponse:
    """Start the caller's session holding the request and the previews offered (generate-detailed reads it)."""
    session_id = await q.create_recipe_session(
        conn, user_id=user_id, request=normalised, previews=previews, source=source
    )
    assert session_id is not None  # insert ... returning
    return PreviewsResponse(session_id=session_id, previews=previews, source=source)


async def _ai_session(
    sources: RecipeSources,
    user_id: uuid.UUID,
    normalised: dict[str, object],
    *,
    data: dict[str, object],
    instructions: str,
    count: int,
) -> PreviewsResponse:
    """Generated previews, offered as a new session; every call counts one generation, cache hits included."""
    connect, settings = sources.connect, sources.settings
    model = settings.ai.recipe_model
    key = cache_key("previews", {**data, "count": count, "model": model, "prompt": PROMPT_VERSION})
    # The common case, a hit: read, counted and offered in one statement; over the limit nothing is written.
    period_start, resets_at = period_bounds("month", datetime.datetime.now(datetime.UTC))
    async with connect() as conn:
        offered = await q.offer_cached_generation(
            conn,
            user_id=user_id,
            cache_key=key,
            fair_use=settings.recipes.generations_fair_use_per_month,
            metric=GENERATION_METRIC,
            period_start=period_start,
            request=normalised,
        )
    assert offered is not None and offered.monthly_limit is not None  # the free tier is seeded (migration 0002)
    limit = offered.monthly_limit
    if offered.value is not None:
        if offered.session_id is None:
            raise usage.UsageLimitReached(LIMIT_CODE, GENERATION_METRIC, limit, "month", resets_at)
        count_hit("previews")
        return PreviewsResponse(offered.session_id, msgspec.convert(offered.value, list[Preview]), "ai")

    async def compute() -> tuple[list[dict[str, object]], str]:
        reply = await sources.ai.complete(
            connect,
            task="recipe",
            model=model,
            instructions=instructions,
            data=data,
            schema_type=ModelPreviews,
            user_id=user_id,
        )
        if not reply.value.previews:
            raise Unprocessable("AI_NO_IDEAS", "No recipe ideas came back for these ingredients; try others.")
        ideas = [msgspec.to_builtins(p) | {"id": f"ai-{n}"} for n, p in enumerate(reply.value.previews[:count], 1)]
        return ideas, reply.model

    async with usage.reserved(connect, user_id, GENERATION_METRIC, limit=limit, period="month", limit_code=LIMIT_CODE):
        value, _ = await cached(
            connect, key, "previews", compute, ttl_seconds=settings.ai.cache_ttl_seconds, wait_seconds=_wait(settings)
        )
    async with connect() as conn:
        return await _offer(conn, user_id, normalised, msgspec.convert(value, list[Preview]), "ai")


async def _catalog_previews(
    sources: RecipeSources, user_id: uuid.UUID, names: list[str], preferences: RecipePreferences, *, limit: int
) -> list[Preview]:
    allowed = {"vegetarian", "vegan", "gluten_free", "dairy_free", "nut_free", "low_carb", "high_protein"}
    tags = [tag for tag in preferences.dietary_tags if tag in allowed]
    request = msgspec.convert(
        {"ingredients": names[:50], "meal_type": preferences.meal_type, "dietary_tags": tags, "limit": limit},
        SuggestionsRequest,
    )
    async with sources.connect() as conn:
        found = await suggest(conn, sources.ranking, user_id, request)
    return [
        Preview(
            id=str(s.recipe.id),
            title=s.recipe.title,
            description=s.recipe.description or "",
            estimated_time=(s.recipe.prep_time or 0) + (s.recipe.cook_time or 0),
            difficulty=s.recipe.difficulty if s.recipe.difficulty in ("easy", "medium", "hard") else "medium",  # type: ignore[arg-type]
            cuisine_type=s.recipe.cuisine_type or "",
            main_ingredients=[line.name for line in s.recipe.ingredients[:6]],
            appeal_factors=[f"uses {s.match.matched} of your ingredients", f"{s.match.missing} more to buy"],
        )
        for s in found.suggestions
    ]


async def generate_detailed(sources: RecipeSources, user_id: uuid.UUID, request: DetailedRequest) -> DetailedResponse:
    connect, settings = sources.connect, sources.settings
    async with connect() as conn:
        session = await q.get_recipe_session(conn, id=request.session_id, user_id=user_id)
    if session is None:
        raise NotFound("SESSION_NOT_FOUND", "There is no such recipe session of yours.")
    offered = {p["id"]: p for p in session.previews}
    preview = offered.get(request.selected_preview.id)
    if preview is None:
        raise NotFound("PREVIEW_NOT_FOUND", "That preview was not offered in this session.")
    if session.source == "catalog":
        async with connect() as conn, conn.transaction():
            recipe = await get_recipe(conn, user_id, uuid.UUID(preview["id"]))
            return DetailedResponse(recipe, (await _award(conn, user_id, request.session_id)).xp_awarded)
    # Written out before: the same recipe again (no model, no new row). Otherwise refuse a full collection before
    # paying for a generation; both are checked again under the lock when the recipe is stored.
    async with connect() as conn:
        written = await _written_out(conn, user_id, request, settings.recipes.own_max)
        if written is not None:
            return DetailedResponse(await get_recipe(conn, user_id, written))
    model = settings.ai.recipe_model
    data = {
        "idea": preview,
        "ingredients": session.request["ingredients"],
        "preferences": session.request["preferences"],
    }
    key = cache_key("recipe", {**data, "model": model, "prompt": PROMPT_VERSION})

    async def compute() -> tuple[dict[str, object], str]:
        reply = await sources.ai.complete(
            connect,
            task="recipe",
            model=model,
            instructions=RECIPE_INSTRUCTIONS,
            data=data,
            schema_type=ModelRecipe,
            user_id=user_id,
        )
        return msgspec.to_builtins(_checked(reply.value)), reply.model

    value, _ = await cached(
        connect, key, "recipe", compute, ttl_seconds=settings.ai.cache_ttl_seconds, wait_seconds=_wait(settings)
    )
    generated = msgspec.convert(value, ModelRecipe)
    async with connect() as conn, conn.transaction():
        await users_q.lock_user(conn, user_id=user_id)  # one account's write-outs one after the other
        written = await _written_out(conn, user_id, request, settings.recipes.own_max)
        if written is not None:  # a concurrent identical request stored it meanwhile
            return DetailedResponse(await get_recipe(conn, user_id, written))
        recipe_id = await q.insert_user_recipe(
            conn,
            user_id=user_id,
            title=generated.title[:200],
            description=generated.description[:2000],
            cuisine=generated.cuisine[:40],
            meal_type=session.request["preferences"].get("meal_type"),
            difficulty=generated.difficulty,
            prep_minutes=generated.prep_minutes,
            cook_minutes=generated.cook_minutes,
            servings=generated.servings,
            dietary_tags=[],
            ingredients=[
                IngredientLine(i.name.lower()[:80], i.quantity, i.unit, i.note) for i in generated.ingredients
            ],
            steps=generated.steps,
            recipe_session_id=request.session_id,
            preview_id=request.selected_preview.id,
        )
        assert recipe_id is not None  # insert ... returning
        given = await _award(conn, user_id, request.session_id)
        return DetailedResponse(await get_recipe(conn, user_id, recipe_id), given.xp_awarded)


async def _written_out(
    conn: Connection, user_id: uuid.UUID, request: DetailedRequest, own_max: int
) -> uuid.UUID | None:
    """The recipe already written out for this preview of the session; else None, or 403 when the caller keeps
    `own_max` recipes already (RECIPES_OWN_MAX)."""
    written = await q.written_out_recipe(
        conn, recipe_session_id=request.session_id, preview_id=request.selected_preview.id, user_id=user_id
    )
    if written is None and (await q.count_own_recipes(conn, user_id=user_id) or 0) >= own_max:
        raise Forbidden(
            OWN_LIMIT_CODE,
            f"You keep {own_max:,} recipes of your own, the most there can be; delete some to write out more.",
        )
    return written


async def _award(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID) -> Award:
    """recipe_generated, once per session: writing out a second preview of the same session earns nothing more."""
    given = await award(conn, user_id, "recipe_generated", str(session_id))
    await achievements.evaluate(conn, user_id)
    return given


def _checked(recipe: ModelRecipe) -> ModelRecipe:
    """What the schema cannot say: sensible numbers and a non-empty recipe (else 502, nothing stored)."""
    sane = (
        recipe.title.strip()
        and recipe.ingredients
        and recipe.steps
        and 0 <= recipe.prep_minutes <= 10_000
        and 0 <= recipe.cook_minutes <= 10_000
        and 1 <= recipe.servings <= 50
        and all(line.quantity is None or 0 < line.quantity <= MAX_QUANTITY for line in recipe.ingredients)
    )
    if not sane:
        raise BadGateway("AI_BAD_RESPONSE", "The AI provider's recipe was incomplete; try again.")
    return recipe


def _wait(settings: Settings) -> float:
    """How long an identical request waits for another's generation: about one full attempt cycle."""
    return settings.ai.timeout_seconds * settings.outbound.retry_attempts + 5
