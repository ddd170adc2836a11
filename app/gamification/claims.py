"""What the app may claim through POST /gamification/add-xp: only actions marked claimable in xp_actions, each with
a server-made de-duplication key (per recipe and UTC day, or per day), so that retries cannot farm XP."""

from __future__ import annotations

import datetime
import uuid

from app.core.errors import NotFound, Unprocessable
from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification import achievements, streaks
from app.gamification.levels import level_for
from app.gamification.schemas import AddXpRequest, AddXpResponse
from app.gamification.xp import Action, award

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
    recipe_id = request.metadata.recipe_id if request.metadata else None
    if action in RECIPE_CLAIMS:
        if recipe_id is None:
            raise Unprocessable("RECIPE_ID_REQUIRED", f"{action} needs metadata.recipe_id.")
        if not await q.recipe_visible_to(conn, recipe_id=recipe_id, user_id=user_id):
            raise NotFound("RECIPE_NOT_FOUND", "There is no such recipe.")
        key = f"{recipe_id}:{day}"
    else:
        key = day
    async with conn.transaction():
        given = await award(conn, user_id, action, key)
        if action == "recipe_cooked" and recipe_id is not None:  # a cooking day, whatever the XP's cap says
            await q.log_cooking(conn, user_id=user_id, recipe_id=recipe_id, cooked_on=now.date())
            await streaks.record_cooking(conn, user_id, now)
            await achievements.evaluate(conn, user_id)
        total = await q.get_xp_total(conn, user_id=user_id)  # with any milestone or achievement XP it brought
    assert total is not None  # award() created the row
    before = given.total_xp - given.xp_awarded
    return AddXpResponse(
        xp_awarded=total - before,
        total_xp=total,
        level=level_for(total),
        leveled_up=level_for(total) > level_for(before),
        outcome=given.outcome,
    )


def _claimable(rule: q.GetXpActionRow) -> Action:
    for action in RECIPE_CLAIMS | DAILY_CLAIMS:
        if action == rule.action and rule.claimable:
            return action
    raise Unprocessable(
        "XP_ACTION_NOT_CLAIMABLE", f"XP for {rule.action} is awarded by the server when you do it, not claimed."
    )
