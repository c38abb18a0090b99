"""What the realtime outbox (realtime/outbox.py) costs on the publish path.

    .venv/bin/python bench/outbox.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                     [--events 20000] [--units 500]

Without a URL: a throwaway SQLite file. With a PostgreSQL URL: a throwaway database on that server
(``hubwire_bench_<hex>``, dropped at the end). Prints, for one event per committed unit of work:

- the SQL statements a unit of work sends, with the plain publisher and with the outbox's guard
  around it, broker up (the guard must add none);
- the median and p99 of one publish through the guard vs the plain publisher (broker up), and the
  plain call of a trivial function as the baseline;
- the cost of one event while the broker is down (kept in the outbox: one INSERT transaction) and of
  relaying it once the broker is back.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from persistence import migrate
from persistence.db import UnitOfWork, create_engine, session_factory
from realtime.outbox import Outbox


class Broker:
    def __init__(self) -> None:
        self.down = False
        self.count = 0

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.down:
            raise ConnectionError("down")
        self.count += 1


PAYLOAD = (b'{"channel":"hub:0192","event":"announcement.created","data":{"id":"x","hub_id":"0192",'
           b'"title":"t","body":"b","created_at":"2026-01-01T00:00:00Z"},"at":"2026-01-01T00:00:00Z"}')


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


async def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        await fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


async def main(url: str | None, events: int, units: int) -> None:
    admin = None
    tmp = None
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    elif url.startswith("postgresql"):
        admin, name = url, f"hubwire_bench_{secrets.token_hex(4)}"
        eng = create_engine(admin)
        async with eng.connect() as c:
            c = await c.execution_options(isolation_level="AUTOCOMMIT")
            await c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        await eng.dispose()
        url = admin.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        broker = Broker()
        outbox = Outbox(sessions)
        await outbox.drain(broker.publish)  # nothing waiting: backlog off
        guarded = outbox.guard(broker.publish)
        statements = 0

        @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        async def unit(publisher: Any) -> None:
            async with UnitOfWork(sessions, publisher=publisher) as uow:
                await uow.session.execute(sa.text("SELECT 1"))  # the request's own work
                uow.publish("hub:0192", PAYLOAD)

        per_unit = {}
        for label, publisher in (("plain publisher", broker.publish), ("outbox guard", guarded)):
            statements = 0
            for _ in range(units):
                await unit(publisher)
            per_unit[label] = statements / units
        print(f"database: {engine.dialect.name}")
        print("| measure | value |\n| --- | ---: |")
        for label, value in per_unit.items():
            print(f"| SQL statements per unit of work with one event, broker up, {label} | {value:.2f} |")

        async def trivial() -> None:
            return None

        async def plain() -> None:
            await broker.publish("hub:0192", PAYLOAD)

        async def guard() -> None:
            await guarded("hub:0192", PAYLOAD)

        for label, fn in (("baseline: a trivial coroutine", trivial), ("publish, plain", plain),
                          ("publish through the guard, broker up", guard)):
            xs = await timed(fn, events)
            print(f"| {label}: median / p99 | {statistics.median(xs):.2f} / {pct(xs, 0.99):.2f} µs |")

        broker.down = True
        xs = await timed(guard, min(events, 500))
        print(f"| one event while the broker is down (kept in the outbox): median / p99 "
              f"| {statistics.median(xs) / 1000:.2f} / {pct(xs, 0.99) / 1000:.2f} ms |")
        broker.down = False
        t = time.perf_counter()
        sent = await outbox.drain(broker.publish)
        took = time.perf_counter() - t
        print(f"| relaying them once the broker is back | {sent} events in {took * 1000:.0f} ms "
              f"({took / max(sent, 1) * 1e6:.0f} µs each) |")
    finally:
        await engine.dispose()
        if admin is not None:
            eng = create_engine(admin)
            async with eng.connect() as c:
                c = await c.execution_options(isolation_level="AUTOCOMMIT")
                await c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            await eng.dispose()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--units", type=int, default=500)
    a = ap.parse_args()
    asyncio.run(main(a.database_url, a.events, a.units))
