"""A savepoint that is the first write of a transaction must not commit on its own: when the
request fails later, everything it wrote is rolled back (a real bug on SQLite's default driver)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from domain.clock import SystemClock
from persistence.db import UnitOfWork, create_engine, session_factory
from persistence.models import Team


async def test_work_inside_a_savepoint_rolls_back_with_the_transaction(database_url):
    engine = create_engine(database_url)
    factory = session_factory(engine)
    now = SystemClock().now()
    slug = f"savepoint-{now.timestamp()}"
    with pytest.raises(RuntimeError):
        async with UnitOfWork(factory) as uow:
            async with uow.session.begin_nested():  # the very first statement of the transaction
                uow.session.add(Team(name="T", slug=slug, created_at=now, updated_at=now))
                await uow.session.flush()
            raise RuntimeError("a later step of the request fails")
    async with factory() as s:
        assert await s.scalar(sa.select(Team.id).where(Team.slug == slug)) is None
    await engine.dispose()
