"""Run the Alembic migrations programmatically, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path
from typing import IO

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.db import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Arbitrary constant: instances starting together take turns migrating on PostgreSQL.
_PG_MIGRATION_LOCK = 728_145_001


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from several instances at once
    (PostgreSQL: an advisory lock; SQLite: a lock file beside the database)."""
    lock = await _sqlite_lock(engine)
    try:
        await _migrate(engine, "upgrade", revision)
    finally:
        if lock is not None:
            lock.close()  # closing the file releases the flock


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    """Run ``action`` in one transaction. On SQLite, foreign keys are off meanwhile: Alembic's batch
    mode changes a table by building a new one and dropping the old, and with foreign keys on, that
    DROP deletes every row referencing the table through ON DELETE CASCADE (a team's hubs, say).
    The pragma only takes effect outside a transaction, so it is set before BEGIN; afterwards the
    references are checked (``foreign_key_check``) and the pragma restored."""
    if engine.dialect.name == "postgresql":
        # The app's engine bounds each statement (persistence/db.py COMMAND_TIMEOUT); a migration
        # rewriting a large table may take longer.
        unbounded = create_engine(engine.url.render_as_string(hide_password=False), command_timeout=None)
        try:
            await _migrate_on(unbounded, action, revision)
        finally:
            await unbounded.dispose()
        return
    await _migrate_on(engine, action, revision)


async def _migrate_on(engine: AsyncEngine, action: str, revision: str) -> None:
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.run_sync(_sqlite_pragma, "PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                if conn.dialect.name == "postgresql":
                    await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                await conn.run_sync(_run, action, revision)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows with broken references: {broken[:5]}")
        finally:
            if sqlite:
                await conn.run_sync(_sqlite_pragma, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection, statement: str) -> None:  # type: ignore[no-untyped-def]
    cursor = connection.connection.dbapi_connection.cursor()  # the driver's: no BEGIN is issued
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def _sqlite_lock(engine: AsyncEngine) -> IO[bytes] | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    path = Path(database + ".migrate-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "ab")  # noqa: SIM115 - held until the migration is done
    await asyncio.to_thread(fcntl.flock, fh.fileno(), fcntl.LOCK_EX)
    return fh


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, "downgrade", revision)


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def _run(connection, action: str, revision: str) -> None:  # type: ignore[no-untyped-def]
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    getattr(command, action)(cfg, revision)
