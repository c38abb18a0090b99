"""Fan-out of events between server instances.

Two implementations with one interface: ``InProcessBroker`` for the embedded default (one process)
and ``RedisBroker`` (Redis pub/sub) for any number of instances. Payloads are bytes, encoded once
by the publisher; the broker never re-encodes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions

from persistence.db import is_database_unavailable

log = logging.getLogger("hubwire.broker")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` is a backing service being away (Redis or the database), not a bug: such a
    failure is logged in one line, without a traceback."""
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)) or \
        is_database_unavailable(exc)


# redis-py's default pool (redis 8) raises MaxConnectionsError at its 101st concurrent connection
# instead of waiting for one: 400 concurrent requests on one instance (each checking its rate
# limit) failed 11,003 of 12,776 checks, and the limiter failed open on them; 250 sockets shed at
# once failed their presence leave. A blocking pool of the same size queues a burst instead; a
# command that finds no free connection within REDIS_POOL_TIMEOUT fails as an outage would.
REDIS_MAX_CONNECTIONS = 100
REDIS_POOL_TIMEOUT = 5.0


def redis_client(url: str) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` on a blocking pool of ``REDIS_MAX_CONNECTIONS`` (closed
    with the client)."""
    import redis.asyncio as aioredis

    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=REDIS_MAX_CONNECTIONS,
                                                    timeout=REDIS_POOL_TIMEOUT)
    return aioredis.Redis.from_pool(pool)


Handler = Callable[[str, bytes], Awaitable[None]]

_YIELD_EVERY = 0.005  # seconds a reader that is behind may hold the event loop at a time


class InProcessBroker:
    """Delivers to handlers in this process only."""

    def __init__(self) -> None:
        self._handlers: dict[str, set[Handler]] = defaultdict(set)

    async def start(self) -> None:
        return None

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Nothing to lose in one process: the callback is never called."""

    async def stop(self) -> None:
        self._handlers.clear()

    async def publish(self, channel: str, payload: bytes) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                await handler(channel, payload)
            except Exception:
                log.exception("broker handler failed on %s", channel)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers[channel].add(handler)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:  # no bookkeeping left behind for dynamic channel names
                del self._handlers[channel]

    async def ping(self) -> bool:
        return True

    def behind(self, now: float) -> float:
        """Publishing delivers in place: nothing ever waits here."""
        return 0.0


class RedisBroker:
    """Redis pub/sub. The reader task reconnects and resubscribes when Redis goes away."""

    def __init__(self, url: str, prefix: str = "hubwire:") -> None:
        self._url = url
        # Redis pub/sub channels ignore the database number: a prefix keeps deployments apart.
        self._prefix = prefix + "ch:"
        self._redis = redis_client(url)
        self._handlers: dict[str, set[Handler]] = defaultdict(set)
        self._pubsub = None
        self._task: asyncio.Task[None] | None = None
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._reconnected = False
        self._behind_since: float | None = None  # input was waiting after each message since then
        self._yielded = 0.0  # when the reader last let the event loop run while behind

    def behind(self, now: float) -> float:
        """How long the reader has found more input already waiting after every message it handled
        (seconds; 0 once it caught up): the overload monitor's measure of the backlog in front of
        it (realtime/overload.py)."""
        since = self._behind_since
        return 0.0 if since is None else now - since

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` (in the reader, before any further message is handled) each time the
        pub/sub connection came back after a loss: messages published meanwhile were not received,
        and if Redis restarted, seq counters and history are gone."""
        self._reconnect_callbacks.append(callback)

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self._redis

    async def start(self) -> None:
        self._task = asyncio.create_task(self._reader(), name="hubwire-redis-broker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._redis.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._redis.publish(self._prefix + channel, payload)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        first = channel not in self._handlers or not self._handlers[channel]
        self._handlers[channel].add(handler)
        if first and self._pubsub is not None:
            try:
                await self._pubsub.subscribe(self._prefix + channel)
            except Exception:  # the reader resubscribes everything after reconnecting
                log.warning("redis subscribe failed for %s; will resubscribe on reconnect", channel)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers is None:
            return
        handlers.discard(handler)
        if not handlers:
            del self._handlers[channel]
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(self._prefix + channel)
                except Exception:
                    pass

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def _reader(self) -> None:
        backoff = 0.1
        connected_once = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            # redis-py reconnects a pub/sub connection by itself (with retries) and resubscribes in
            # ``on_connect``; note each such reconnect so the gateway can catch up (see on_reconnect).
            pubsub._hubwire_broker = self  # (redis-py keeps connect callbacks as weak bound methods)
            pubsub.on_connect = types.MethodType(_on_connect_noted, pubsub)  # type: ignore[method-assign]
            try:
                # A placeholder channel keeps the connection in subscribed mode even with no handlers.
                await pubsub.subscribe(self._prefix + "_", *(self._prefix + c for c in self._handlers))
                self._pubsub = pubsub
                # Channels added while we were connecting saw no connection: catch them up now.
                missing = [self._prefix + c for c in self._handlers if (self._prefix + c).encode() not in pubsub.channels]
                if missing:
                    await pubsub.subscribe(*missing)
                if connected_once:
                    log.warning("redis pub/sub connection re-established")
                    self._reconnected = True
                connected_once = True
                backoff = 0.1
                while True:
                    if self._reconnected:
                        self._reconnected = False
                        await self._after_reconnect()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        if message is None:
                            self._behind_since = None
                        continue
                    if self._reconnected:  # came back while waiting: catch up before this message
                        self._reconnected = False
                        await self._after_reconnect()
                    channel = message["channel"].decode()[len(self._prefix):]
                    for handler in list(self._handlers.get(channel, ())):
                        try:
                            await handler(channel, message["data"])
                        except Exception:
                            log.exception("broker handler failed on %s", channel)
                    # More already read from Redis and waiting (asyncio's stream buffer; a private
                    # attribute, so 0 when absent): the reader is behind since the first such time.
                    if getattr(getattr(pubsub.connection, "_reader", None), "_buffer", None):
                        now = time.monotonic()
                        if self._behind_since is None:
                            self._behind_since = now
                        # Reading buffered input never yields: without this, a backlog would hold
                        # the event loop for as long as it lasts (sockets' writes, the overload
                        # monitor and every other task waiting). Yield every few milliseconds.
                        if now - self._yielded >= _YIELD_EVERY:
                            await asyncio.sleep(0)
                            self._yielded = time.monotonic()
                    else:
                        self._behind_since = None
            except asyncio.CancelledError:
                await _close_quietly(pubsub)
                raise
            except Exception as exc:
                log.warning("redis pub/sub connection lost (%s); reconnecting in %.1fs", exc, backoff)
            self._pubsub = None
            self._behind_since = None
            await _close_quietly(pubsub)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _after_reconnect(self) -> None:
        for callback in list(self._reconnect_callbacks):
            try:
                await callback()
            except Exception as exc:
                log.warning("redis reconnect callback failed (%s); retrying before the next message", exc)
                self._reconnected = True


async def _on_connect_noted(pubsub, connection) -> None:  # type: ignore[no-untyped-def]
    """PubSub.on_connect (resubscribe after redis-py reconnected by itself), noting the reconnect."""
    pubsub._hubwire_broker._reconnected = True
    await type(pubsub).on_connect(pubsub, connection)


async def _close_quietly(pubsub) -> None:  # type: ignore[no-untyped-def]
    try:
        await pubsub.aclose()
    except Exception:
        pass


Broker = InProcessBroker | RedisBroker
