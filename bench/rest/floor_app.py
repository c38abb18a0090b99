"""The database floor of bench/rest.py: a contact page of 50 read by a bare Litestar route.

What any route that reads a page from the database costs at least, measured beside the bare
baseline and Hubwire's own ``T/contacts`` in the same run, so the ratio Hubwire's routes reach can
be read against what is possible at all with a database round trip on this machine. Both routes
answer the page Hubwire's ``T/contacts?page[size]=50`` answers (the team's contacts that are not
deleted, with their emails, in id order, 51 rows read) as a JSON:API document; no authentication,
no rate limit, no tags, no cursor:

* ``GET /driver/contacts?team_id=…`` — one statement on a raw asyncpg pool (PostgreSQL only): the
  floor of the database driver itself;
* ``GET /orm/contacts?team_id=…`` — the same statement built once with SQLAlchemy Core from
  Hubwire's own tables, run in an ``AsyncSession`` transaction on Hubwire's engine settings
  (``persistence.db.create_engine``): the floor of the data layer Hubwire is written on.

    python bench/rest/floor_app.py --port 8202 --database-url postgresql+asyncpg://...

Runs from the Hubwire checkout it lies in (its ``persistence`` package on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import msgspec
import sqlalchemy as sa
from litestar import Litestar, Response, get
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import create_engine
from persistence.models.crm import Contact, TeamContact

COLUMNS = ("id", "contact_id", "first_name", "last_name", "lifecycle_stage", "source", "created_at",
           "updated_at")
PAGE = (sa.select(*(TeamContact.__table__.c[name] for name in COLUMNS), Contact.email)
        .join(Contact, Contact.id == TeamContact.contact_id)
        .where(TeamContact.team_id == sa.bindparam("team_id"), TeamContact.deleted_at.is_(None))
        .order_by(TeamContact.id).limit(51))
DRIVER_SQL = (
    "SELECT tc.id, tc.contact_id, tc.first_name, tc.last_name, tc.lifecycle_stage, tc.source, tc.created_at, "
    "tc.updated_at, c.email FROM team_contacts tc JOIN contacts c ON c.id = tc.contact_id "
    "WHERE tc.team_id = $1 AND tc.deleted_at IS NULL ORDER BY tc.id LIMIT 51"
)
_encoder = msgspec.json.Encoder()


def document(rows: list[Any], path: str) -> Response[bytes]:
    data = [{"type": "contacts", "id": str(r[0]), "attributes": {
        "contact_id": str(r[1]), "email": r[8], "first_name": r[2], "last_name": r[3], "lifecycle_stage": r[4],
        "source": r[5], "created_at": r[6].isoformat(), "updated_at": r[7].isoformat()}} for r in rows[:50]]
    body = _encoder.encode({"data": data, "links": {"self": path, "next": None}})
    return Response(body, media_type="application/vnd.api+json")


def create_app(database_url: str) -> Litestar:
    engine = create_engine(database_url)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    state: dict[str, Any] = {}

    async def startup() -> None:
        if engine.dialect.name == "postgresql":
            import asyncpg

            dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10)

    async def shutdown() -> None:
        if "pool" in state:
            await state["pool"].close()
        await engine.dispose()

    @get("/driver/contacts")
    async def driver_contacts(team_id: str) -> Response[bytes]:
        rows = await state["pool"].fetch(DRIVER_SQL, uuid.UUID(team_id))
        return document(rows, "/driver/contacts")

    @get("/orm/contacts")
    async def orm_contacts(team_id: str) -> Response[bytes]:
        async with sessions() as session, session.begin():
            rows = list((await session.execute(PAGE, {"team_id": uuid.UUID(team_id)})).all())
        return document(rows, "/orm/contacts")

    return Litestar(route_handlers=[driver_contacts, orm_contacts], on_startup=[startup], on_shutdown=[shutdown])


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    # the same uvicorn settings as `hubwire serve` and the bare baseline
    uvicorn.run(create_app(args.database_url), host=args.host, port=args.port, workers=1, log_level="warning",
                proxy_headers=False, timeout_graceful_shutdown=10)
