"""The backends this run uses, from the environment (see tests/conftest.py), and the settings of a
Hubwire app on them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import sqlalchemy as sa

from persistence.db import create_engine
from server.settings import Settings

PG_ADMIN_URL = os.environ.get("HUBWIRE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HUBWIRE_TEST_REDIS_URL")
RUN_ID = secrets.token_hex(4)  # names this run's PostgreSQL databases and Redis keys


def make_settings(data_dir: Path, database_url: str, redis_prefix: str, **overrides: str) -> Settings:
    env = {
        "HUBWIRE_DATA_DIR": str(data_dir),
        "HUBWIRE_DATABASE_URL": database_url,
        "HUBWIRE_SECRET_KEY": "test-secret-key-" + "x" * 40,
        "HUBWIRE_PASSWORD_HASHING": "fast",
        "HUBWIRE_LOGIN_LIMIT_PER_IP": "100000",
        # every test client shares one address: the REST API's limits are tested on their own
        # (tests/ops/test_limits.py)
        "HUBWIRE_RATE_LIMIT_PER_IP": "10000000",
        "HUBWIRE_RATE_LIMIT_PER_KEY": "10000000",
        "HUBWIRE_REDIS_PREFIX": redis_prefix,
        # INFO: every request's log line is written, and scanned for secrets (tests/support/logscan.py)
        "HUBWIRE_LOG_LEVEL": "INFO",
        "HUBWIRE_LOG_FORMAT": "json",
        # A loaded test machine makes the event loop late now and then: typing and presence frames
        # are not shed in tests of other things (tests/realtime/test_realtime_overload.py tests it)
        "HUBWIRE_RT_SHED_SIGNALS_AFTER": "60",
    }
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    env.update(overrides)
    return Settings.from_env(env)


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
