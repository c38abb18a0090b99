"""Engine, sessions and the unit of work.

A unit of work wraps one database transaction. Domain code queues side effects (events, emails,
cache invalidations) with ``uow.after_commit(...)``; they run only once the transaction has
committed, and are dropped on rollback.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_, in_greenlet

log = logging.getLogger("hubwire.persistence")

AfterCommit = Callable[[], Awaitable[None]]
Publisher = Callable[[str, bytes], Awaitable[None]]


# PostgreSQL: how long a request may wait for a connection (connect, or a free one in the pool) and
# for one statement, so that a database that is down or hung answers 503 instead of hanging.
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0
# SQLite: how long a transaction waits for the write lock (the busy timeout, and _SqliteWriteLock).
SQLITE_LOCK_TIMEOUT = 30.0


def create_engine(url: str, *, echo: bool = False, command_timeout: float | None = COMMAND_TIMEOUT) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs. On PostgreSQL,
    connects time out after ``CONNECT_TIMEOUT`` s, waiting for the pool after ``POOL_TIMEOUT`` s, and
    statements after ``command_timeout`` s (None: never, for migrations); a connection lost when the
    server restarted is noticed at checkout and replaced (``_drop_closed_connections``)."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_LOCK_TIMEOUT}
    else:
        connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT}
        if command_timeout is not None:
            connect_args["command_timeout"] = command_timeout
        kwargs.update(pool_size=10, max_overflow=20, pool_timeout=POOL_TIMEOUT, connect_args=connect_args)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine.sync_engine.pool, "checkout", _drop_closed_connections)
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

        writers = _SQLITE_WRITERS[engine.sync_engine] = _SqliteWriteLock()

        @sa.event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, waiting (busy_timeout) for another writer.
            # A deferred BEGIN that reads and then writes after another connection committed
            # fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT): no timeout helps.
            # Writers serialize either way on SQLite; readers in WAL mode are not blocked.
            # Within this process they queue on an asyncio lock first (_SqliteWriteLock), so a
            # waiting transaction starts as soon as the previous one ends instead of polling.
            writers.acquire(conn.connection.info)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writers.release(conn.connection.info)
                raise

        @sa.event.listens_for(engine.sync_engine, "commit")
        @sa.event.listens_for(engine.sync_engine, "rollback")
        def _sqlite_end(conn: Any) -> None:
            try:
                info = conn.connection.info
            except sa.exc.SQLAlchemyError:  # invalidated: released when it returns to the pool
                return
            writers.release(info)

        @sa.event.listens_for(engine.sync_engine.pool, "checkin")
        def _sqlite_checkin(_dbapi_conn: Any, record: Any) -> None:
            writers.release(record.info)  # a connection invalidated mid-transaction ends no transaction

    return engine


def _drop_closed_connections(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, hand back a fresh connection instead of one whose socket has closed.

    This replaces SQLAlchemy's ``pool_pre_ping``, which sends a statement and waits for its answer
    on every checkout: a quarter of a millisecond of CPU per request, ~5 % of a list route's
    (bench/README.md, REST throughput). When PostgreSQL restarts or ends a backend, the server
    closes the socket and asyncpg marks the connection closed as soon as the event loop reads the
    EOF, so asking ``is_closed()`` costs nothing and catches that case; the pool then discards the
    connection and checks out (or opens) another. A connection that dies without the socket
    closing (a network partition) fails its first statement instead: SQLAlchemy recognises the
    disconnect, invalidates the pool's older connections, and that request answers 503 like any
    other while the database is unreachable (docs/deploy.md)."""
    if dbapi_conn.driver_connection.is_closed():
        raise sa.exc.DisconnectionError("the connection was closed by the server")


class _SqliteWriteLock:
    """The order in which this process's SQLite transactions take the database's write lock.

    Every transaction on SQLite begins IMMEDIATE (it takes the one write lock at BEGIN), and a
    connection that finds it taken waits in SQLite's busy handler, which sleeps and retries with a
    back-off of up to 100 ms: under concurrent requests most of a request's time went to those
    sleeps while the lock was already free (bench/README.md, REST throughput). Here the BEGIN
    first waits on an asyncio lock of the event loop, released when the transaction commits or
    rolls back, so the next transaction starts at once; other processes still meet the busy
    handler as before. Waiting is bounded like the busy timeout (``SQLITE_LOCK_TIMEOUT``), then
    fails like it ("database is locked"). Used only inside SQLAlchemy's async greenlets; the
    connection's pool record remembers that it holds the lock, so release is idempotent and a
    connection that begins again before returning to the pool does not wait for itself."""

    KEY = "hubwire_sqlite_write_lock"

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.waiting = 0  # transactions of this process queued for their BEGIN (tests watch it)

    def acquire(self, info: dict[str, Any]) -> None:
        if self.KEY in info or not in_greenlet():
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        self.waiting += 1
        try:
            await_(asyncio.wait_for(lock.acquire(), SQLITE_LOCK_TIMEOUT))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        finally:
            self.waiting -= 1
        info[self.KEY] = lock

    def release(self, info: dict[str, Any]) -> None:
        lock = info.pop(self.KEY, None)
        if lock is not None:
            lock.release()


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Any, _SqliteWriteLock] = weakref.WeakKeyDictionary()


def sqlite_transactions_waiting(engine: AsyncEngine) -> int:
    """How many transactions of this process wait for their turn to begin on this SQLite engine
    (0 for other databases)."""
    writers = _SQLITE_WRITERS.get(engine.sync_engine)
    return writers.waiting if writers is not None else 0


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


# serialization_failure, deadlock_detected: the transaction lost a race and may simply be run again
_CONFLICT_SQLSTATES = ("40001", "40P01")


def is_transaction_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` says the transaction was rolled back because it collided with another one —
    a deadlock or a serialization failure on PostgreSQL, a write lock still held after the busy
    timeout on SQLite. Not a bug and not an outage: running it again succeeds. The edge answers
    503 with a short ``Retry-After`` (server/errors.py); background jobs retry without a traceback."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    orig = exc.orig
    sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if sqlstate in _CONFLICT_SQLSTATES:
        return True
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(orig)


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
