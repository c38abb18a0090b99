"""Test harness: one real database per run (SQLite file, or a fresh PostgreSQL database), built by
running the Alembic migrations; Redis when HUBWIRE_TEST_REDIS_URL is set.

Backends are chosen by environment:
  (nothing)                          SQLite + in-process broker (the embedded default)
  HUBWIRE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
                                     a server to create a throwaway database on
  HUBWIRE_TEST_REDIS_URL=redis://127.0.0.1:6379/0
When a backend is asked for and does not answer, the run fails: nothing is skipped.

This file holds fixtures only, which tests get by naming them. The plain helpers tests import
(register, doc, assert_error, make_settings, ...) live in tests/support/; each context's folder has
a conftest.py of its own for the fixtures it shares.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports them: the support modules hold asserts (assert_error, the harnesses), and
# pytest rewrites only test modules, conftest files and the modules registered here.
pytest.register_assert_rewrite("tests.support")

from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.clock import OffsetClock
from persistence import migrate
from persistence.db import create_engine
from server.app import create_app
from server.settings import Settings
from tests.support.backends import PG_ADMIN_URL, REDIS_URL, RUN_ID, Database, make_settings
from tests.support.logscan import collect, lines_scanned, scan


def backend_name() -> str:
    return ("postgresql" if PG_ADMIN_URL else "sqlite") + ("+redis" if REDIS_URL else "+inprocess")


def pytest_report_header(config: Any) -> str:
    return f"hubwire backends: {backend_name()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Under CI (``CI`` set, as .ci/run does) a skipped test is a failed one: the suite promises
    that nothing is skipped, and a skip that only shows in the summary would go unnoticed."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run everything: {reason}"


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hubwire")


@pytest.fixture(scope="session", autouse=True)
def _log_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every log line of the run, and every server process's log, searched for the secrets the
    tests used (tests/support/logscan.py): a hit fails the run at its end."""
    base = tmp_path_factory.getbasetemp()
    path = base / "suite-records.log"
    yield from collect(path)
    files = [path, *(p for p in base.rglob("*.log") if p != path)]
    found = scan(files)
    print(f"\nlog scan: {lines_scanned(files)} lines in {len(files)} files, "
          f"{sum(len(v) for v in found.values())} secrets")
    assert not found, f"secrets in the logs: {found}"


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
async def servers_database_url(databases: Database) -> str:
    """The database the suite's `hubwire serve` processes share, apart from the in-process apps'
    ``database_url``. On SQLite every transaction takes the file's write lock, and while this
    process's event loop is not running (a sync fixture waiting for a server to exit) an in-process
    job caught between BEGIN and COMMIT keeps it: a server then waited on it for its busy timeout
    and took ~40 s to stop (a CI run timed out stopping the proof server that way)."""
    url = await databases.new("servers")
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


_own_databases = itertools.count(1)


@pytest.fixture
async def own_database_url(databases: Database) -> str:
    """A migrated database for one test alone. Tests whose server processes talk to a Redis of
    their own need it: on the shared ``database_url`` the session app's realtime outbox relay
    (realtime/outbox.py) would claim the events those servers stashed during an outage and publish
    them to the shared Redis, where their clients never see them."""
    url = await databases.new(f"own{next(_own_databases)}")
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"hubwire-test-{RUN_ID}:"


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
