"""Migrations build the whole schema from empty, match the models exactly, and run down and up
again, on whichever database the run uses (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from persistence import migrate
from persistence.db import create_engine
from persistence.models import Base


def _head() -> str:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1, f"migration history has several heads: {heads}"
    return heads[0]


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


async def test_upgrade_from_empty_matches_models_and_round_trips(databases):
    url = await databases.new("migrations")
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()

        await migrate.upgrade(engine)
        assert await migrate.current(engine) == _head()
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            assert set(Base.metadata.tables) <= tables
            # The models and the migrated schema agree: no change autogenerate would still make.
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
            )
            assert diff == [], diff

        # Applying again is a no-op (instances restart and re-run it).
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == _head()

        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        assert await migrate.current(engine) is None

        await migrate.upgrade(engine)
        assert await migrate.current(engine) == _head()
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_from_two_instances_do_not_collide(databases):
    """Two instances starting together both run migrations on start; one waits for the other."""
    import asyncio

    url = await databases.new("migrations_race")
    engines = [create_engine(url), create_engine(url)]
    try:
        await asyncio.gather(*(migrate.upgrade(e) for e in engines))
        assert await migrate.current(engines[0]) == _head()
    finally:
        for e in engines:
            await e.dispose()
