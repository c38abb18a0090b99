"""Test harness: one real database per run (SQLite file, or a fresh PostgreSQL database), built by
running the Alembic migrations; Redis when HUBWIRE_TEST_REDIS_URL is set.

Backends are chosen by environment:
  (nothing)                          SQLite + in-process broker (the embedded default)
  HUBWIRE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
                                     a server to create a throwaway database on
  HUBWIRE_TEST_REDIS_URL=redis://127.0.0.1:6379/0
When a backend is asked for and does not answer, the run fails: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.clock import OffsetClock
from persistence import migrate
from persistence.db import create_engine
from server.app import create_app
from server.settings import Settings

PG_ADMIN_URL = os.environ.get("HUBWIRE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HUBWIRE_TEST_REDIS_URL")
RUN_ID = secrets.token_hex(4)


def backend_name() -> str:
    return ("postgresql" if PG_ADMIN_URL else "sqlite") + ("+redis" if REDIS_URL else "+inprocess")


def pytest_report_header(config: Any) -> str:
    return f"hubwire backends: {backend_name()}"


async def create_pg_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


class Database:
    """A throwaway database for the run (and helpers to make more, e.g. for migration tests)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []

    async def new(self, label: str) -> str:
        if PG_ADMIN_URL:
            name = f"hubwire_test_{RUN_ID}_{label}"
            url = await create_pg_database(PG_ADMIN_URL, name)
            self.created.append(name)
            return url
        return f"sqlite+aiosqlite:///{self.tmp / (label + '.db')}"

    async def drop_all(self) -> None:
        if PG_ADMIN_URL:
            for name in self.created:
                await drop_pg_database(PG_ADMIN_URL, name)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hubwire")


@pytest.fixture(scope="session")
async def databases(tmp_root: Path) -> AsyncIterator[Database]:
    db = Database(tmp_root)
    yield db
    await db.drop_all()


@pytest.fixture(scope="session")
async def database_url(databases: Database) -> str:
    url = await databases.new("main")
    engine = create_engine(url)
    await migrate.upgrade(engine)  # the schema comes from the migrations, as in production
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"hubwire-test-{RUN_ID}:"


def make_settings(data_dir: Path, database_url: str, redis_prefix: str, **overrides: str) -> Settings:
    env = {
        "HUBWIRE_DATA_DIR": str(data_dir),
        "HUBWIRE_DATABASE_URL": database_url,
        "HUBWIRE_SECRET_KEY": "test-secret-key-" + "x" * 40,
        "HUBWIRE_PASSWORD_HASHING": "fast",
        "HUBWIRE_LOGIN_LIMIT_PER_IP": "100000",
        "HUBWIRE_REDIS_PREFIX": redis_prefix,
        "HUBWIRE_LOG_LEVEL": "WARNING",
    }
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    env.update(overrides)
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def settings(tmp_root: Path, database_url: str, redis_prefix: str) -> Settings:
    return make_settings(tmp_root / "data", database_url, redis_prefix)


@pytest.fixture(scope="session")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: OffsetClock) -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture(scope="session")
def app(settings: Settings, clock: OffsetClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture(scope="session", autouse=True)
async def _redis_cleanup(redis_prefix: str) -> AsyncIterator[None]:
    if REDIS_URL:
        import redis.asyncio as redis

        r = redis.Redis.from_url(REDIS_URL)
        await r.ping()  # a configured Redis that does not answer fails the run here
        yield
        async for key in r.scan_iter(match=redis_prefix + "*"):
            await r.delete(key)
        await r.aclose()
    else:
        yield


# ---- helpers every test module uses -------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def doc(type_name: str, attributes: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type_name, "attributes": attributes}
    if id is not None:
        data["id"] = id
    return {"data": data}


JSONAPI_HEADERS = {"Content-Type": "application/vnd.api+json"}


class Staff:
    """A registered staff user with their tokens and personal team."""

    def __init__(self, email: str, tokens: dict[str, Any], team_id: str) -> None:
        self.email = email
        self.tokens = tokens
        self.team_id = team_id

    @property
    def access(self) -> str:
        return str(self.tokens["access_token"])

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


async def register(client: httpx.AsyncClient | AsyncTestClient[Any], label: str = "staff") -> Staff:
    email = unique_email(label)
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    tokens = r.json()
    teams = await client.get("/api/v1/teams", headers=bearer(tokens["access_token"]))
    assert teams.status_code == 200, teams.text
    return Staff(email, tokens, teams.json()["data"][0]["id"])


async def create_team(client: Any, staff: Staff, name: str = "Team") -> str:
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": name}), headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def create_key(client: Any, staff: Staff, team_id: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/teams/{team_id}/api-keys", json={"name": "integration", "scopes": scopes, **extra},
                          headers=staff.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def assert_error(response: Any, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    """The response is a JSON:API error document with this status and code (and pointer)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    body = response.json()
    assert set(body) == {"errors"}, body
    err = body["errors"][0]
    assert err["status"] == str(status)
    assert err["code"] == code, err
    assert err["meta"]["request_id"] == response.headers["x-request-id"]
    if pointer is not None:
        assert err["source"]["pointer"] == pointer, err
    assert "Traceback" not in response.text
    return dict(err)


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)
