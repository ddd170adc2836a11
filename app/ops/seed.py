"""Demo data for the development default: one account whose credentials the README states. (The reference data,
ingredients and recipes, is loaded by `cookcam migrate` in every environment: app/ops/reference_data.py.)"""

from __future__ import annotations

from app.auth.service import normalise_email
from app.core.passwords import Passwords
from app.db.pool import connect
from app.db.queries import auth as q
from app.settings import Settings


async def seed(dsn: str, settings: Settings) -> str:
    conn = await connect(dsn)
    try:
        email = normalise_email(settings.demo.email)
        if await q.get_credentials_by_email(conn, email=email) is not None:
            return f"Demo user {email} already exists."
        password_hash = await Passwords(1).hash(settings.demo.password, account=email)
        await q.create_user(conn, email=email, password_hash=password_hash, name="Demo Cook")
        return f"Seeded demo user {email}."
    finally:
        await conn.close()
