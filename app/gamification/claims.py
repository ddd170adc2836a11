"""What the app may claim through POST /gamification/add-xp: only actions marked claimable in xp_actions, each with
a server-made de-duplication key (per recipe and UTC day, or per day), so that retries cannot farm XP."""

from __future__ import annotations

import datetime
import uuid

from app.core.errors import Unprocessable
from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification import streaks
from app.gamification.schemas import AddXpRequest, AddXpResponse
from app.gamification.xp import Action, award
from app.recipes.service import get_recipe

# Claims about a recipe name it (one the caller can see); the others are once a day.
RECIPE_CLAIMS: frozenset[Action] = frozenset({"recipe_cooked", "completion_photo", "recipe_shared"})
DAILY_CLAIMS: frozenset[Action] = frozenset({"daily_check_in"})


async def claim(conn: Connection, user_id: uuid.UUID, request: AddXpRequest) -> AddXpResponse:
    rule = await q.get_xp_action(conn, action=request.action)
    if rule is None:
        raise Unprocessable("XP_ACTION_UNKNOWN", f"There is no XP action {request.action!r}.")
    action = _claimable(rule)
    now = datetime.datetime.now(datetime.UTC)
    day = now.date().isoformat()
    if action in RECIPE_CLAIMS:
        recipe_id = request.metadata.recipe_id if request.metadata else None
        if recipe_id is None:
            raise Unprocessable("RECIPE_ID_REQUIRED", f"{action} needs metadata.recipe_id.")
        await get_recipe(conn, user_id, recipe_id)  # 404 unless the caller can see it
        key = f"{recipe_id}:{day}"
    else:
        key = day
    async with conn.transaction():
        given = await award(conn, user_id, action, key)
        if action == "recipe_cooked":  # a cooking day, whatever the XP's cap says
            await streaks.record_cooking(conn, user_id, now)
    return AddXpResponse(given.xp_awarded, given.total_xp, given.level, given.leveled_up, given.outcome)


def _claimable(rule: q.GetXpActionRow) -> Action:
    for action in RECIPE_CLAIMS | DAILY_CLAIMS:
        if action == rule.action and rule.claimable:
            return action
    raise Unprocessable(
        "XP_ACTION_NOT_CLAIMABLE", f"XP for {rule.action} is awarded by the server when you do it, not claimed."
    )
