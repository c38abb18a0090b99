"""Engine, sessions and the unit of work.

A unit of work wraps one database transaction. Domain code queues side effects (events, emails,
cache invalidations) with ``uow.after_commit(...)``; they run only once the transaction has
committed, and are dropped on rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger("hubwire.persistence")

AfterCommit = Callable[[], Awaitable[None]]
Publisher = Callable[[str, bytes], Awaitable[None]]


# PostgreSQL: how long a request may wait for a connection (connect, or a free one in the pool) and
# for one statement, so that a database that is down or hung answers 503 instead of hanging.
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0


def create_engine(url: str, *, echo: bool = False, command_timeout: float | None = COMMAND_TIMEOUT) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs. On PostgreSQL,
    connects time out after ``CONNECT_TIMEOUT`` s, waiting for the pool after ``POOL_TIMEOUT`` s, and
    statements after ``command_timeout`` s (None: never, for migrations); a connection lost when the
    server restarted is noticed at checkout (pre-ping) and replaced."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT}
        if command_timeout is not None:
            connect_args["command_timeout"] = command_timeout
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT,
                      connect_args=connect_args)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The sqlite3 driver begins transactions lazily, at the first write; a SAVEPOINT
            # issued before that opens no real transaction, so RELEASE would commit for good and
            # a later rollback could not undo it. Take transaction control from the driver and
            # BEGIN ourselves (SQLAlchemy's documented recipe for pysqlite/aiosqlite).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, waiting (busy_timeout) for another writer.
            # A deferred BEGIN that reads and then writes after another connection committed
            # fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT): no timeout helps.
            # Writers serialize either way on SQLite; readers in WAL mode are not blocked.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# SQLSTATE classes of a database that cannot serve now: 08 connection exception, 57P operator
# intervention (shutdown, starting up), 53 insufficient resources (too many connections).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53")
# asyncpg's names for a connection that is gone (they carry no SQLSTATE)
_DISCONNECTS = frozenset({"ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"})


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or is going away — an outage, not a
    bug: a refused or lost connection, a connect or pool timeout, a server shutting down or
    starting up. The edge answers these 503 (server/errors.py); background loops log one line."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        return isinstance(orig, (ConnectionError, TimeoutError)) or type(orig).__name__ in _DISCONNECTS
    return isinstance(exc, (ConnectionError, TimeoutError, sa.exc.TimeoutError))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


class UnitOfWork:
    """One transaction plus the side effects that may leave only after it commits."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], publisher: Publisher | None = None) -> None:
        self._factory = factory
        self._after_commit: list[AfterCommit] = []
        self._publisher = publisher
        self.published: list[tuple[str, bytes]] = []  # what left after commit (for tests and logs)
        self.session: AsyncSession = factory()

    def publish(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for ``channel``; it leaves through the broker once the transaction
        commits, and never if it rolls back. ``payload`` is encoded once, by the caller."""

        async def _send() -> None:
            self.published.append((channel, payload))
            if self._publisher is not None:
                await self._publisher(channel, payload)

        self.after_commit(_send)

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` once the transaction has committed; never if it rolls back."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # a failed side effect must not turn a committed change into an error
                log.exception("after-commit callback failed")

    async def rollback(self) -> None:
        self._after_commit.clear()
        await self.session.rollback()

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            await self.session.close()
