"""A gateway put together for one app instance, and its drain when the process is told to stop.

The server's realtime lifespan (server/api/realtime/routes.py) calls ``build_gateway`` with what
the app runs on, starts the gateway, and installs ``drain_on_signals`` for as long as it runs.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

from realtime.access import ChannelAccess
from realtime.broker import Broker
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.gateway import Gateway
from realtime.history import InProcessHistory, RealtimePublisher, RedisHistory
from realtime.presence import InProcessPresence, RedisPresence
from realtime.shards import ShardedBroker, ShardedHistory


def build_gateway(broker: Broker, redis: Any | None, redis_prefix: str, access: ChannelAccess,
                  config: GatewayConfig) -> tuple[Gateway, RealtimePublisher]:
    """The gateway and the publisher that numbers and stores every event before the broker fans
    it out: history and presence in Redis when there is one (any number of instances), else in
    this process."""
    if isinstance(broker, ShardedBroker):  # each channel's seq/history on its own node
        history: Any = ShardedHistory(broker, redis_prefix)
        presence: Any = RedisPresence(redis, redis_prefix)
        publisher = RealtimePublisher(broker, history, pubsub_prefix=redis_prefix + "ch:")
    elif redis is not None:
        history = RedisHistory(redis, redis_prefix)
        presence = RedisPresence(redis, redis_prefix)
        # RedisBroker's channel naming (prefix + "ch:" + channel): the stamp script publishes itself.
        publisher = RealtimePublisher(broker, history, pubsub_prefix=redis_prefix + "ch:")
    else:
        history, presence = InProcessHistory(), InProcessPresence()
        publisher = RealtimePublisher(broker, history)

    async def recheck(conns: list[Connection]) -> None:
        await access.recheck(gateway, conns)

    gateway = Gateway(broker, history, presence, config, authorize=access.authorize, recheck=recheck,
                      stamp_dedup=redis is not None)
    return gateway, publisher


def drain_on_signals(gateway: Gateway) -> Callable[[], None]:
    """uvicorn closes sockets with 1012 on SIGTERM before the lifespan ends, with no word to the
    client, and waits for SSE streams: drain first (``closing`` + 1012, SSE ended), then hand the
    signal to uvicorn's own handler. Returns the function that puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(sig: int, frame: Any) -> None:
        prev = previous.get(sig)

        async def drain_then_exit() -> None:
            try:
                await gateway.drain()
            finally:
                if callable(prev):
                    prev(sig, frame)

        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(drain_then_exit()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
        except (ValueError, OSError):
            previous.pop(sig, None)

    def restore() -> None:
        for sig, prev in previous.items():
            try:
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, prev)
            except (ValueError, OSError):
                pass

    return restore
