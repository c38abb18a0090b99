"""A transaction that loses a race with another one (a deadlock or a serialization failure on
PostgreSQL, the write lock held past the busy timeout on SQLite) is rolled back whole and would
succeed if sent again: the edge answers 503 ``transaction_conflict`` with ``Retry-After: 1`` (one
WARNING line, no traceback), not a 500 that reads like a bug; background jobs log no traceback.
The conflicts here are real ones, produced by the database of the run."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from persistence.db import create_engine, is_database_unavailable, is_transaction_conflict
from server.errors import EXCEPTION_HANDLERS
from tests.support.conflicts import real_conflict


async def test_a_real_conflict_is_classified_as_a_conflict_not_an_outage(database_url: str) -> None:
    exc = await real_conflict(database_url)
    assert is_transaction_conflict(exc)
    assert not is_database_unavailable(exc)


async def test_other_database_errors_are_not_conflicts(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as caught:
                await conn.execute(sa.text("SELECT * FROM no_such_table_here"))
    finally:
        await engine.dispose()
    assert not is_transaction_conflict(caught.value)
    assert not is_transaction_conflict(RuntimeError("deadlock detected"))


async def test_the_edge_answers_a_conflict_503_with_retry_after(database_url: str) -> None:
    exc = await real_conflict(database_url)

    @get("/collides", sync_to_thread=False)
    def collides() -> Any:
        raise exc

    app = Litestar([collides], exception_handlers=EXCEPTION_HANDLERS)
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign]
    errors_log = logging.getLogger("hubwire.errors")
    errors_log.addHandler(listener)
    try:
        async with AsyncTestClient(app) as client:
            r = await client.get("/collides")
    finally:
        errors_log.removeHandler(listener)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1"
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    error = r.json()["errors"][0]
    assert (error["status"], error["code"]) == ("503", "transaction_conflict"), error
    assert "Traceback" not in r.text and "deadlock" not in r.text.lower() and "locked" not in r.text
    conflicts = [rec for rec in records if "transaction conflict" in rec.getMessage()]
    assert conflicts and all(rec.levelno == logging.WARNING and rec.exc_info is None for rec in conflicts)
