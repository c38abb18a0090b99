"""Reaching into the running test app from a test: run a coroutine on the app's own loop, read and
write its database, and listen on its broker."""

from __future__ import annotations

import json
import queue
import uuid
from typing import Any

import sqlalchemy as sa


def in_app(client: Any, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` on the app's event loop. The test client serves the app from its own
    loop (a portal thread), and the app's database pool and Redis connections belong to it."""
    return client.blocking_portal.call(fn, *args)


class Listener:
    """Collects the events the app publishes on a channel of its broker (subscribed on the app's
    loop; the handler hands payloads over through a thread-safe queue)."""

    def __init__(self, client: Any, app: Any, channel: str) -> None:
        self.client, self.broker, self.channel = client, app.state.services.broker, channel
        self.queue: queue.Queue[bytes] = queue.Queue()

    async def _handler(self, channel: str, payload: bytes) -> None:
        self.queue.put(payload)

    def __enter__(self) -> Listener:
        in_app(self.client, self.broker.subscribe, self.channel, self._handler)
        self.drain()  # with Redis the subscription is live once a marker published now comes back
        return self

    def __exit__(self, *exc: Any) -> None:
        in_app(self.client, self.broker.unsubscribe, self.channel, self._handler)

    def drain(self) -> list[dict[str, Any]]:
        """Every event published on the channel so far: a marker published now comes after them."""
        marker = f"marker-{uuid.uuid4().hex}".encode()
        events: list[dict[str, Any]] = []
        for _ in range(100):
            in_app(self.client, self.broker.publish, self.channel, marker)
            try:
                while (payload := self.queue.get(timeout=0.1)) != marker:
                    if not payload.startswith(b"marker-"):
                        events.append(json.loads(payload))
            except queue.Empty:
                continue  # not subscribed yet (Redis): publish the marker again
            while not self.queue.empty():  # repeated markers
                payload = self.queue.get_nowait()
                if not payload.startswith(b"marker-"):
                    events.append(json.loads(payload))
            return events
        raise AssertionError(f"the marker never came back on {self.channel}")


def db_rows(client: Any, app: Any, stmt: Any) -> list[Any]:
    async def rows() -> list[Any]:
        async with app.state.services.uow() as uow:
            return list((await uow.session.scalars(stmt)).all())

    return in_app(client, rows)  # type: ignore[no-any-return]


def db_write(client: Any, app: Any, *statements_or_rows: Any) -> None:
    async def write() -> None:
        async with app.state.services.uow() as uow:
            for item in statements_or_rows:
                if isinstance(item, sa.sql.Executable):
                    await uow.session.execute(item)
                else:
                    uow.session.add(item)

    in_app(client, write)
