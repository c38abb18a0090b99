"""Publish after commit: side effects queued during a transaction leave only once it commits, and
never when it rolls back. Checked through the real broker of the run (in-process or Redis)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from domain.clock import SystemClock
from persistence.db import UnitOfWork, create_engine, session_factory
from persistence.models import Team
from realtime.broker import InProcessBroker, RedisBroker
from tests.support.backends import REDIS_URL


@pytest.fixture
async def broker(redis_prefix):
    b = RedisBroker(REDIS_URL, prefix=redis_prefix) if REDIS_URL else InProcessBroker()
    await b.start()
    yield b
    await b.stop()


async def _received(broker, channel: str) -> asyncio.Queue[bytes]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(ch: str, payload: bytes) -> None:
        await queue.put(payload)

    await broker.subscribe(channel, handler)
    if REDIS_URL:
        # the subscription is live once a probe published now comes back
        for _ in range(100):
            await broker.publish(channel, b"probe")
            try:
                assert await asyncio.wait_for(queue.get(), 0.05) == b"probe"
                break
            except asyncio.TimeoutError:
                continue
    return queue


async def test_event_leaves_only_after_commit(database_url, broker):
    engine = create_engine(database_url)
    factory = session_factory(engine)
    queue = await _received(broker, "team:test-commit")
    now = SystemClock().now()
    seen_in_db_when_published: list[bool] = []

    async with UnitOfWork(factory) as uow:
        team = Team(name="T", slug=f"uow-{id(uow)}", created_at=now, updated_at=now)
        uow.session.add(team)
        await uow.session.flush()

        async def publish() -> None:
            # by now the row must be visible to any other connection
            async with factory() as other:
                seen_in_db_when_published.append(await other.get(Team, team.id) is not None)
            await broker.publish("team:test-commit", b"created")

        uow.after_commit(publish)
        await asyncio.sleep(0.05)
        assert queue.empty(), "published before commit"

    assert await asyncio.wait_for(queue.get(), 5) == b"created"
    assert seen_in_db_when_published == [True]
    await engine.dispose()


async def test_rollback_drops_queued_events(database_url, broker):
    engine = create_engine(database_url)
    factory = session_factory(engine)
    queue = await _received(broker, "team:test-rollback")
    now = SystemClock().now()
    slug = f"uow-rollback-{now.timestamp()}"

    with pytest.raises(RuntimeError):
        async with UnitOfWork(factory) as uow:
            uow.session.add(Team(name="T", slug=slug, created_at=now, updated_at=now))
            await uow.session.flush()
            uow.after_commit(lambda: broker.publish("team:test-rollback", b"should-not-arrive"))
            raise RuntimeError("the use case failed")

    await broker.publish("team:test-rollback", b"marker")
    assert await asyncio.wait_for(queue.get(), 5) == b"marker"  # nothing arrived before the marker
    async with factory() as s:
        assert await s.scalar(sa.select(Team.id).where(Team.slug == slug)) is None
    await engine.dispose()


async def test_a_failing_side_effect_does_not_undo_the_commit(database_url):
    engine = create_engine(database_url)
    factory = session_factory(engine)
    now = SystemClock().now()
    slug = f"uow-sidefx-{now.timestamp()}"
    ran: list[str] = []

    async def broken() -> None:
        raise ConnectionError("broker down")

    async def second() -> None:
        ran.append("second")

    async with UnitOfWork(factory) as uow:
        uow.session.add(Team(name="T", slug=slug, created_at=now, updated_at=now))
        uow.after_commit(broken)
        uow.after_commit(second)

    assert ran == ["second"]
    async with factory() as s:
        assert await s.scalar(sa.select(Team.id).where(Team.slug == slug)) is not None
    await engine.dispose()
