"""The realtime outbox: live events that could not be published when their transaction committed.

Events leave after commit (``persistence.db.UnitOfWork``), through the broker. While the broker
answers, that is all: no database write per event. When a publish fails (Redis is away), the
event is written to the ``realtime_outbox`` table instead (``stash``), and so is every later event
of this instance until the table is empty again, so a channel's events keep their order. The
relay (``run``, a background job in server/jobs.py) publishes the rows in ``id`` order once the
broker answers again, deletes them, and the instance goes back to publishing directly.

What this covers and what it does not (docs/realtime.md, "Delivery during outages"):

* broker away at publish time: nothing is lost; the events arrive late, in order (a replay is
  stamped with a dedup key, so a row published twice by a relay that died mid-batch counts once);
* the database away too: the event cannot be kept; one ERROR line says so (the change itself did
  commit, and clients refetch after the ``recovered: false`` they get when Redis comes back);
* the process killed between commit and publish (microseconds): that live event is lost, the
  committed change is not. Closing this window would cost a database write per event on the hot
  path (a transactional outbox); we chose not to pay it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import Publisher
from persistence.models import RealtimeOutbox

log = logging.getLogger("hubwire.realtime")

Ping = Callable[[], Awaitable[bool]]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Outbox:
    """The outbox of one process: ``guard`` wraps the unit of work's publisher, ``run`` relays."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, interval: float | None = 5.0,
                 busy_interval: float = 0.25, batch: int = 200, publish_timeout: float = 5.0) -> None:
        self._sessions = sessions
        # interval None: no look at an idle table (SQLite: one instance, and every SQLite
        # transaction takes the write lock); the relay then runs when woken (a stash, a reconnect).
        self.interval, self.busy_interval, self.batch = interval, busy_interval, batch
        self.publish_timeout = publish_timeout
        # True while rows may be waiting: new events queue behind them rather than overtake them.
        # True at start, so the first pass looks for rows left by an earlier outage.
        self.backlog = True
        self._stashed = 0  # bumped per stash: a drain that saw an empty table keeps backlog if it moved
        self._wake = asyncio.Event()
        self.relayed = 0  # rows published by this process's relay (for tests and logs)

    def guard(self, publish: Publisher) -> Publisher:
        """``publish``, except that a failed publish (or any publish while a backlog waits) is
        kept in the outbox. Never raises: the change it announces has committed."""

        async def publish_or_stash(channel: str, payload: bytes) -> None:
            if not self.backlog:
                try:
                    await publish(channel, payload)
                    return
                except Exception as exc:
                    log.warning("publish on %s failed (%s: %s); kept in the realtime outbox", channel,
                                type(exc).__name__, exc)
            await self.stash(channel, payload)

        return publish_or_stash

    async def stash(self, channel: str, payload: bytes) -> None:
        """Keep one event for the relay (its own short transaction)."""
        self.backlog = True
        self._stashed += 1
        try:
            async with self._sessions() as s, s.begin():
                s.add(RealtimeOutbox(channel=channel, payload=payload, created_at=_utcnow()))
        except Exception as exc:
            log.error("live event on %s lost: neither the broker nor the database could take it (%s: %s)",
                      channel, type(exc).__name__, exc)
            return
        self._wake.set()

    def wake(self) -> None:
        """Drain now (the broker is back)."""
        self._wake.set()

    async def on_reconnect(self) -> None:
        """Broker ``on_reconnect`` callback: drain now."""
        self._wake.set()

    async def drain(self, publish: Publisher) -> int:
        """Publish the waiting rows in order, deleting each batch once published; stop at the first
        failure (raised after the published ones are deleted). The number published."""
        sent = 0
        while True:
            stashed = self._stashed
            failed: Exception | None = None
            async with self._sessions() as s, s.begin():
                query = sa.select(RealtimeOutbox).order_by(RealtimeOutbox.id).limit(self.batch)
                if s.bind.dialect.name == "postgresql":
                    query = query.with_for_update()  # one relay at a time, across instances, in order
                rows = (await s.scalars(query)).all()
                if not rows:
                    if stashed == self._stashed:
                        self.backlog = False
                    return sent
                done: list[int] = []
                for row in rows:
                    try:
                        await asyncio.wait_for(publish(row.channel, row.payload), self.publish_timeout)
                    except Exception as exc:
                        failed = exc
                        break
                    done.append(row.id)
                if done:
                    await s.execute(sa.delete(RealtimeOutbox).where(RealtimeOutbox.id.in_(done)))
            sent += len(done)
            self.relayed += len(done)
            if failed is not None:
                raise failed

    async def run(self, publish: Publisher, ping: Ping) -> None:
        """The relay: while a backlog waits, every ``busy_interval`` (or when woken), drain once the
        broker answers; otherwise look every ``interval`` for rows another instance left (or, with
        no interval, only when woken)."""
        failing = False
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.busy_interval if self.backlog else self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                if not await asyncio.wait_for(ping(), self.publish_timeout):
                    continue
                sent = await self.drain(publish)
                if sent:
                    log.warning("realtime outbox: %d live event(s) published after the broker came back", sent)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:  # one line per outage, not one per attempt
                    log.warning("realtime outbox relay waiting (%s: %s)", type(exc).__name__, exc)
                failing = True
