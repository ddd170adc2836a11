"""A user's saved and favourite recipes and ratings: idempotent when the app says what it wants (`{"saved": true}`),
a toggle when it does not (the shipped app's behaviour). Saves count against the tier's saved-recipe limit, checked
under a per-user lock so that parallel saves cannot pass it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

import msgspec

from app.billing.entitlements import limits_for
from app.core.errors import AppError, NotFound
from app.db.queries import collections as q
from app.db.queries import recipes as recipes_q
from app.db.queries import users as users_q
from app.db.types import Connection
from app.gamification import achievements
from app.gamification.xp import award
from app.recipes.schemas import Recipe
from app.recipes.service import recipes_of
from app.settings import Settings


class SavedLimitReached(AppError):
    status_code = 403


class SaveRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    saved: bool | None = None


class FavoriteRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    favorited: bool | None = None


class RateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]


class SaveState(msgspec.Struct, frozen=True):
    saved: bool
    saved_count: int
    saved_limit: int | None


class FavoriteState(msgspec.Struct, frozen=True):
    favorited: bool


class RatingState(msgspec.Struct, frozen=True):
    rating: int
    average_rating: float
    ratings_count: int
    xp_awarded: int = 0


async def _visible(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID) -> None:
    if await recipes_q.get_recipe(conn, id=recipe_id, user_id=user_id) is None:
        raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe.")


async def set_saved(
    conn: Connection, settings: Settings, user_id: uuid.UUID, recipe_id: uuid.UUID, wanted: bool | None
) -> SaveState:
    limits = await limits_for(conn, user_id)
    limit = limits.saved_recipes if limits.saved_recipes is not None else settings.recipes.saved_fair_use
    async with conn.transaction():
        await _visible(conn, user_id, recipe_id)
        await users_q.lock_user(conn, user_id=user_id)
        saved_now = bool(await q.is_saved(conn, user_id=user_id, recipe_id=recipe_id))
        target = (not saved_now) if wanted is None else wanted
        if (
            target
            and not saved_now
            and await q.save_recipe(conn, user_id=user_id, recipe_id=recipe_id, saved_limit=limit) is None
        ):
            raise SavedLimitReached(
                "SAVED_RECIPES_LIMIT_REACHED",
                f"You can keep {limit} saved recipes on your plan; remove one or upgrade to save more.",
            )
        if not target and saved_now:
            await q.unsave_recipe(conn, user_id=user_id, recipe_id=recipe_id)
        count = await q.count_saved(conn, user_id=user_id) or 0
    return SaveState(saved=target, saved_count=count, saved_limit=limits.saved_recipes)


async def set_favorite(
    conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID, wanted: bool | None
) -> FavoriteState:
    async with conn.transaction():
        await _visible(conn, user_id, recipe_id)
        now = bool(await q.is_favorite(conn, user_id=user_id, recipe_id=recipe_id))
        target = (not now) if wanted is None else wanted
        if target and not now:
            await q.favorite_recipe(conn, user_id=user_id, recipe_id=recipe_id)
        elif not target and now:
            await q.unfavorite_recipe(conn, user_id=user_id, recipe_id=recipe_id)
    return FavoriteState(favorited=target)


async def rate(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID, rating: int) -> RatingState:
    await _visible(conn, user_id, recipe_id)
    async with conn.transaction():
        others = await q.rate_recipe(conn, user_id=user_id, recipe_id=recipe_id, rating=rating)
        assert others is not None  # an aggregate always returns its row
        # The first rating of a recipe earns XP; changing it does not (the key is the recipe).
        given = await award(conn, user_id, "recipe_rated", str(recipe_id))
        await achievements.evaluate(conn, user_id)
    count = others.others_count + 1
    return RatingState(rating, round((others.others_sum + rating) / count, 2), count, given.xp_awarded)


async def _with_favorite(conn: Connection, rows: Sequence[q.ListSavedRecipesRow | q.ListOwnRecipesRow]) -> list[Recipe]:
    recipes = await recipes_of(conn, rows)
    return [
        msgspec.structs.replace(recipe, is_favorited=row.is_favorited)
        for row, recipe in zip(rows, recipes, strict=True)
    ]


async def saved_recipes(conn: Connection, user_id: uuid.UUID, *, limit: int, offset: int) -> list[Recipe]:
    return await _with_favorite(conn, await q.list_saved_recipes(conn, user_id=user_id, max_rows=limit, skip=offset))


async def own_recipes(conn: Connection, user_id: uuid.UUID, *, limit: int, offset: int) -> list[Recipe]:
    return await _with_favorite(conn, await q.list_own_recipes(conn, user_id=user_id, max_rows=limit, skip=offset))


async def delete_own(conn: Connection, user_id: uuid.UUID, recipe_id: uuid.UUID) -> None:
    if await q.delete_own_recipe(conn, id=recipe_id, user_id=user_id) != 1:
        raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe of yours.")
