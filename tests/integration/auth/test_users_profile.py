"""GET/PUT /api/v1/users/profile and /api/v1/users/preferences, the shipped app's paths: the same account, the same
validation and the same service as /auth/me and /auth/profile."""

from __future__ import annotations

import pytest

from tests.support import bearer, sign_up

PROFILE = "/api/v1/users/profile"
PREFERENCES = "/api/v1/users/preferences"
PREFERENCE_FIELDS = {
    "default_serving_size",
    "meal_prep_enabled",
    "default_meal_prep_count",
    "kitchen_appliances",
    "dietary_preferences",
    "cuisine_preferences",
    "cooking_skill_level",
    "time_zone",
}


async def test_the_profile_is_the_account_of_auth_me(client) -> None:
    auth = await sign_up(client, name="Ada")
    profile = await client.get(PROFILE, headers=bearer(auth))
    assert profile.status_code == 200, profile.text
    assert profile.json() == (await client.get("/api/v1/auth/me", headers=bearer(auth))).json()

    changed = await client.put(PROFILE, headers=bearer(auth), json={"name": "Ada L.", "onboarding_completed": True})
    assert changed.status_code == 200, changed.text
    me = (await client.get("/api/v1/auth/me", headers=bearer(auth))).json()
    assert (me["name"], me["onboarding_completed"]) == ("Ada L.", True)
    assert changed.json() == me


async def test_preferences_are_read_and_changed_field_by_field(client) -> None:
    auth = await sign_up(client)
    before = await client.get(PREFERENCES, headers=bearer(auth))
    assert before.status_code == 200, before.text
    assert set(before.json()) == PREFERENCE_FIELDS
    assert before.json()["time_zone"] == "UTC"  # until the app sends one, streak days are UTC days

    sent = {"default_serving_size": 4, "dietary_preferences": ["vegetarian"], "time_zone": "Europe/Paris"}
    after = await client.put(PREFERENCES, headers=bearer(auth), json=sent)
    assert after.status_code == 200, after.text
    assert {key: after.json()[key] for key in sent} == sent
    assert after.json()["cooking_skill_level"] == before.json()["cooking_skill_level"]  # not sent: kept
    me = (await client.get("/api/v1/auth/me", headers=bearer(auth))).json()
    assert {key: me[key] for key in sent} == sent
    assert (await client.get(PREFERENCES, headers=bearer(auth))).json() == after.json()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"default_serving_size": 500}, "VALIDATION_ERROR", "default_serving_size"),
        ({"cooking_skill_level": "wizard"}, "VALIDATION_ERROR", "cooking_skill_level"),
        ({"kitchen_appliances": ["x" * 51]}, "VALIDATION_ERROR", "kitchen_appliances[0]"),
        ({"name": "Not a preference"}, "VALIDATION_ERROR", None),  # the profile's fields are not preferences
        ({"is_creator": True}, "VALIDATION_ERROR", None),
        ({"time_zone": "Mars/Olympus_Mons"}, "TIME_ZONE_UNKNOWN", None),
    ],
)
async def test_bad_preferences_are_refused_and_change_nothing(client, body: dict, code: str, field: str | None) -> None:
    auth = await sign_up(client)
    before = (await client.get(PREFERENCES, headers=bearer(auth))).json()
    response = await client.put(PREFERENCES, headers=bearer(auth), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    if field is not None:
        assert response.json()["details"][0]["field"] == field
    assert (await client.get(PREFERENCES, headers=bearer(auth))).json() == before


async def test_the_profile_cannot_make_a_creator(client) -> None:
    auth = await sign_up(client)
    response = await client.put(PROFILE, headers=bearer(auth), json={"is_creator": True, "creator_tier": "5"})
    assert response.status_code == 422
    assert (await client.get(PROFILE, headers=bearer(auth))).json()["is_creator"] is False


@pytest.mark.parametrize(
    ("method", "path"), [("GET", PROFILE), ("PUT", PROFILE), ("GET", PREFERENCES), ("PUT", PREFERENCES)]
)
async def test_both_need_a_signed_in_caller(client, method: str, path: str) -> None:
    response = await client.request(method, path, json={} if method == "PUT" else None)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
