"""Real transaction conflicts from the run's database, for tests of how they are reported: a
deadlock on PostgreSQL, a write lock held past the busy timeout on SQLite."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.db import create_engine


async def _postgres_deadlock(url: str) -> sa.exc.DBAPIError:
    """Two transactions that each lock the row the other one wants next: PostgreSQL kills one."""
    engine = create_engine(url)
    table = f"conflict_probe_{uuid.uuid4().hex[:8]}"
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)"))
            await conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
        both_hold_one = asyncio.Barrier(2)

        async def cross(first: int, second: int) -> None:
            async with engine.begin() as conn:
                await conn.execute(sa.text(f"UPDATE {table} SET n = n + 1 WHERE id = {first}"))
                await both_hold_one.wait()
                await conn.execute(sa.text(f"UPDATE {table} SET n = n + 1 WHERE id = {second}"))

        results = await asyncio.gather(cross(1, 2), cross(2, 1), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1, results  # one is chosen as the victim, the other commits
        assert isinstance(failures[0], sa.exc.DBAPIError), failures
        return failures[0]
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def _sqlite_locked(url: str) -> sa.exc.DBAPIError:
    """Another process's transaction holds the write lock (an engine of its own: within one engine,
    transactions queue in-process instead, persistence/db.py); a writer with a short busy timeout
    gives up."""
    holder_engine = create_engine(url)
    other = create_async_engine(url, connect_args={"timeout": 0.05})
    try:
        async with holder_engine.connect() as holder:
            await holder.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock is ours
            async with other.connect() as latecomer:
                with pytest.raises(sa.exc.DBAPIError) as caught:
                    await latecomer.exec_driver_sql("BEGIN IMMEDIATE")
            await holder.rollback()
        return caught.value
    finally:
        await other.dispose()
        await holder_engine.dispose()


async def real_conflict(database_url: str) -> sa.exc.DBAPIError:
    if database_url.startswith("postgresql"):
        return await _postgres_deadlock(database_url)
    return await _sqlite_locked(database_url)
