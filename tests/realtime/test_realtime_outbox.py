"""The realtime outbox (realtime/outbox.py): an event whose publish fails after commit is kept in the
database and published later, in order; while the broker answers, nothing is written."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import msgspec
import pytest
import sqlalchemy as sa

from domain.events import AnnouncementCreated, emit
from persistence.models import RealtimeOutbox
from realtime.broker import InProcessBroker
from server.services import Services, build_services
from server.settings import Settings


class FlakyBroker(InProcessBroker):
    """An in-process broker that can be 'down' (every publish and ping raises)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append((channel, payload))

    async def ping(self) -> bool:
        if self.down:
            raise ConnectionError("Connection refused.")
        return True


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    services = build_services(settings)
    real_broker, services.broker = services.broker, FlakyBroker()
    async with services.sessions() as s, s.begin():  # rows another test may have left
        await s.execute(sa.delete(RealtimeOutbox))
    try:
        yield services
    finally:
        await real_broker.stop()  # never started; closes its Redis client, if any
        await services.engine.dispose()


def broker_of(svc: Services) -> FlakyBroker:
    assert isinstance(svc.broker, FlakyBroker)
    return svc.broker


async def announce(svc: Services, channel: str, title: str) -> None:
    """One committed unit of work that emits one event."""
    now = datetime.now(timezone.utc)
    async with svc.uow() as uow:
        emit(uow, channel, "announcement.created",
             AnnouncementCreated(id=str(uuid.uuid4()), hub_id=channel[4:], title=title, body="b", created_at=now), now)


async def kept(svc: Services) -> list[tuple[str, str]]:
    async with svc.sessions() as s:
        rows = (await s.scalars(sa.select(RealtimeOutbox).order_by(RealtimeOutbox.id))).all()
    return [(r.channel, msgspec.json.decode(r.payload)["data"]["title"]) for r in rows]


def titles(sent: list[tuple[str, bytes]]) -> list[str]:
    return [msgspec.json.decode(p)["data"]["title"] for _, p in sent]


async def test_a_publish_that_fails_after_commit_is_kept_and_relayed_in_order(svc: Services) -> None:
    broker = broker_of(svc)
    channel = f"hub:{uuid.uuid4()}"
    await svc.outbox.drain(svc.relay_publish)  # nothing waiting: publishes go straight out
    assert svc.outbox.backlog is False

    await announce(svc, channel, "up")
    assert titles(broker.sent) == ["up"] and await kept(svc) == []  # no database write when the broker answers

    broker.down = True
    await announce(svc, channel, "down1")
    await announce(svc, channel, "down2")
    assert await kept(svc) == [(channel, "down1"), (channel, "down2")]
    with pytest.raises(ConnectionError):  # the relay cannot publish yet; nothing is lost
        await svc.outbox.drain(svc.relay_publish)
    assert await kept(svc) == [(channel, "down1"), (channel, "down2")]

    broker.down = False
    # Back, but the backlog is not drained yet: a new event queues behind it, never overtakes it.
    await announce(svc, channel, "back")
    assert titles(broker.sent) == ["up"]
    assert await svc.outbox.drain(svc.relay_publish) == 3
    assert titles(broker.sent) == ["up", "down1", "down2", "back"]
    assert await kept(svc) == [] and svc.outbox.backlog is False
    await announce(svc, channel, "direct")
    assert titles(broker.sent)[-1] == "direct" and await kept(svc) == []


async def test_the_relay_job_publishes_as_soon_as_the_broker_answers(svc: Services) -> None:
    broker = broker_of(svc)
    svc.outbox.busy_interval = 0.05
    channel = f"hub:{uuid.uuid4()}"
    relay = asyncio.create_task(svc.outbox.run(svc.relay_publish, svc.broker.ping))
    try:
        broker.down = True
        for i in range(5):
            await announce(svc, channel, f"e{i}")
        await asyncio.sleep(0.2)  # the relay tries, and waits
        assert broker.sent == [] and len(await kept(svc)) == 5
        broker.down = False
        for _ in range(100):
            if len(broker.sent) == 5:
                break
            await asyncio.sleep(0.05)
        assert titles(broker.sent) == [f"e{i}" for i in range(5)]
        assert await kept(svc) == []
    finally:
        relay.cancel()
        with pytest.raises(asyncio.CancelledError):
            await relay
