"""Public profiles (public fields only) and finding people by name: case-insensitive, substring from three
characters and prefix below, LIKE wildcards matching literally, deterministic order, bounded pages."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from app.db.queries import social as q
from app.users.social import like_literal
from tests.support import bearer, new_email, sign_up

USERS = "/api/v1/users"
PUBLIC_FIELDS = {
    "id",
    "name",
    "avatar_url",
    "is_creator",
    "creator_tier",
    "created_at",
    "total_xp",
    "level",
    "followers_count",
    "following_count",
    "is_following",
}
SUMMARY_FIELDS = {"id", "name", "avatar_url", "is_creator", "creator_tier", "level", "is_following"}


async def add_user(db: asyncpg.Connection, name: str) -> str:
    """A user row straight in the table: searches need many names, and sign-up hashes a password each time."""
    user_id = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'not-a-hash', $2) returning id", new_email(), name
    )
    return str(user_id)


async def names_for(client, auth: dict, search: str, **params: int) -> list[str]:
    response = await client.get(USERS, headers=bearer(auth), params={"search": search, **params})
    assert response.status_code == 200, response.text
    return [user["name"] for user in response.json()["users"]]


# (avatar_url, the error code): PUT /auth/profile and /users/profile refuse them with 422.
REFUSED_AVATARS = [
    ("http://cdn.cookcam.app/a.png", "VALIDATION_ERROR"),  # https only
    ("https://169.254.169.254/latest/meta-data", "AVATAR_URL_NOT_ALLOWED"),  # link-local: no host of ours
    ("https://[fe80::1]/a.png", "VALIDATION_ERROR"),
    ("https://tracker.example/pixel.gif", "AVATAR_URL_NOT_ALLOWED"),
    ("https://cdn.cookcam.app.evil.example/a.png", "AVATAR_URL_NOT_ALLOWED"),
    ("https://evilsupabase.co/a.png", "AVATAR_URL_NOT_ALLOWED"),  # *.supabase.co means subdomains only
    ("https://user:pw@cdn.cookcam.app/a.png", "AVATAR_URL_NOT_ALLOWED"),
    ("https://cdn.cookcam.app:8443/a.png", "AVATAR_URL_NOT_ALLOWED"),
    ('https://cdn.cookcam.app/a.png"><script>alert(1)</script>', "VALIDATION_ERROR"),  # markup
    ("https://cdn.cookcam.app/a b.png", "VALIDATION_ERROR"),
    ("https://cdn.cookcam.app/" + "a" * 2048, "VALIDATION_ERROR"),  # too long
]


async def test_an_avatar_is_an_https_picture_on_an_allowed_host(client) -> None:
    ada = await sign_up(client, name="Ada")
    for url, problem in REFUSED_AVATARS:
        for path in ("/api/v1/auth/profile", "/api/v1/users/profile"):
            refused = await client.put(path, headers=bearer(ada), json={"avatar_url": url})
            assert (refused.status_code, refused.json()["code"]) == (422, problem), (path, url)
            assert refused.json()["details"][0]["field"].endswith("avatar_url")
    allowed = (
        "https://cdn.cookcam.app/avatars/ada.png?v=2",
        "https://abcdefgh.supabase.co/storage/v1/object/public/avatars/ada.jpg",
        "https://lh3.googleusercontent.com/a/ACg8ocK-x_1=s96-c",
    )
    for good in allowed:
        answer = await client.put("/api/v1/users/profile", headers=bearer(ada), json={"avatar_url": good})
        assert (answer.status_code, answer.json()["avatar_url"]) == (200, good)


async def test_a_public_profile_has_public_fields_only(client, db: asyncpg.Connection) -> None:
    ada = await sign_up(client, name="Ada Lovelace")
    viewer = await sign_up(client, name="Viewer")
    await client.put(
        "/api/v1/auth/profile",
        headers=bearer(ada),
        json={
            "avatar_url": "https://cdn.cookcam.app/avatars/ada.png",
            "dietary_preferences": ["vegan"],
            "time_zone": "Europe/London",
        },
    )
    await db.execute("insert into xp_totals (user_id, total_xp) values ($1::uuid, 300)", ada["user"]["id"])
    response = await client.get(f"{USERS}/{ada['user']['id']}", headers=bearer(viewer))
    assert response.status_code == 200, response.text
    profile = response.json()
    assert set(profile) == PUBLIC_FIELDS
    assert profile["id"] == ada["user"]["id"]
    assert (profile["name"], profile["avatar_url"], profile["is_creator"]) == (
        "Ada Lovelace",
        "https://cdn.cookcam.app/avatars/ada.png",
        False,
    )
    assert profile["created_at"] == ada["user"]["created_at"]
    assert (profile["total_xp"], profile["level"]) == (300, 3)
    assert (profile["followers_count"], profile["following_count"], profile["is_following"]) == (0, 0, False)
    for private in (ada["user"]["email"], "vegan", "Europe/London", "tier_slug", "subscription", "email"):
        assert private not in response.text

    await client.post(f"{USERS}/{ada['user']['id']}/follow", headers=bearer(viewer))
    seen = (await client.get(f"{USERS}/{ada['user']['id']}", headers=bearer(viewer))).json()
    assert (seen["followers_count"], seen["is_following"]) == (1, True)
    own = (await client.get(f"{USERS}/{viewer['user']['id']}", headers=bearer(viewer))).json()
    assert (own["following_count"], own["followers_count"], own["is_following"], own["level"]) == (1, 0, False, 1)


async def test_unknown_profiles_and_the_other_users_paths(client) -> None:
    auth = await sign_up(client)
    unknown = await client.get(f"{USERS}/{uuid.uuid4()}", headers=bearer(auth))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "USER_NOT_FOUND"
    assert (await client.get(f"{USERS}/not-a-uuid", headers=bearer(auth))).status_code == 404
    # The caller's subscription keeps its own path beside the profiles.
    subscription = await client.get(f"{USERS}/subscription", headers=bearer(auth))
    assert subscription.status_code == 200
    assert subscription.json()["tier_slug"] == "free"


async def test_every_social_route_requires_sign_in(client) -> None:
    someone = uuid.uuid4()
    for method, path, params in (
        ("GET", USERS, {"search": "ada"}),
        ("GET", f"{USERS}/{someone}", None),
        ("POST", f"{USERS}/{someone}/follow", None),
        ("GET", f"{USERS}/{someone}/followers", None),
        ("GET", f"{USERS}/{someone}/following", None),
    ):
        response = await client.request(method, path, params=params)
        assert response.status_code == 401, path
        assert response.json()["code"] == "UNAUTHENTICATED"


async def test_search_is_case_insensitive_by_substring_and_ordered(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client, name="Searcher")
    for name in ("Ajulia", "Bob Jules", "julia", "Julia Child", "Julian", "Jon", "Zed"):
        await add_user(db, name)
    # Exact name, names starting with the query (by name), a word starting with it, then the rest.
    assert await names_for(client, auth, "JULIA") == ["julia", "Julia Child", "Julian", "Ajulia"]
    assert await names_for(client, auth, "jul") == ["julia", "Julia Child", "Julian", "Bob Jules", "Ajulia"]
    assert await names_for(client, auth, "child") == ["Julia Child"]
    # One or two characters: name prefixes only.
    assert await names_for(client, auth, "jU") == ["julia", "Julia Child", "Julian"]
    assert await names_for(client, auth, "j") == ["Jon", "julia", "Julia Child", "Julian"]
    assert await names_for(client, auth, "  zed  ") == ["Zed"]  # surrounding spaces are not part of the name
    assert await names_for(client, auth, "nobody") == []
    hits = (await client.get(USERS, headers=bearer(auth), params={"search": "zed"})).json()["users"]
    assert set(hits[0]) == SUMMARY_FIELDS
    assert (hits[0]["level"], hits[0]["is_following"], hits[0]["is_creator"]) == (1, False, False)


async def test_search_wildcards_match_literally(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client, name="Searcher")
    for name in ("100% Chef", "1000 Chef", "a_b cook", "axb cook", "back\\slash", "backslash", "_under", "%off"):
        await add_user(db, name)
    assert await names_for(client, auth, "100%") == ["100% Chef"]
    assert await names_for(client, auth, "% chef") == ["100% Chef"]
    assert await names_for(client, auth, "a_b") == ["a_b cook"]
    assert await names_for(client, auth, "k\\s") == ["back\\slash"]
    assert await names_for(client, auth, "_") == ["_under"]
    assert await names_for(client, auth, "%") == ["%off"]
    assert await names_for(client, auth, "%%%") == []
    assert await names_for(client, auth, "___") == []
    assert like_literal("50%_\\") == "50\\%\\_\\\\"


async def test_search_bounds_and_pages(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client, name="Searcher")
    cooks = [f"Cook {n}" for n in range(7)]
    for name in reversed(cooks):
        await add_user(db, name)
    pages = [await names_for(client, auth, "cook", limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert pages == [cooks[:3], cooks[3:6], cooks[6:], []]
    for params in (
        {},
        {"search": ""},
        {"search": "   "},
        {"search": "x" * 81},
        {"search": "cook", "limit": 0},
        {"search": "cook", "limit": 51},
        {"search": "cook", "offset": -1},
        {"search": "cook", "offset": 1001},
    ):
        response = await client.get(USERS, headers=bearer(auth), params=params)
        assert response.status_code == 422, params
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert await names_for(client, auth, "x" * 80, limit=50) == []


@pytest.mark.parametrize(
    ("sql", "arguments", "index"),
    [
        (q.SEARCH_USERS_BY_SUBSTRING, ("cook 4", "cook 4"), "users_name_grams_idx"),
        (q.SEARCH_USERS_BY_PREFIX, ("co",), "users_name_prefix_idx"),
    ],
)
async def test_searches_can_use_their_indexes(db: asyncpg.Connection, sql: str, arguments: tuple, index: str) -> None:
    await db.execute(
        "insert into users (email, password_hash, name) "
        "select 'u' || n || '@example.com', 'not-a-hash', 'Cook ' || n from generate_series(1, 2000) as n"
    )
    await db.execute("analyze users")
    async with db.transaction():
        await db.execute("set local enable_seqscan = off")  # the table is small: show the index can serve it
        plan = await db.fetchval("explain (format json) " + sql, uuid.uuid4(), *arguments, 0, 20)
    assert index in str(plan)
