"""The bare baseline of bench/fanout: Litestar + Redis pub/sub, nothing else.

One WebSocket route, ``/ws``: the socket is accepted (no auth), told ``{"type":"subscribed"}`` and
added to a set; one Redis pub/sub reader per process (same client library and read loop as
Hubwire's ``RedisBroker``) forwards each message, decoded once, to every local socket with the raw
ASGI send Hubwire's transport uses. No seq, no history, no queue, no access checks.

    python bench/fanout/baseline_app.py --port 8101   # BENCH_REDIS_URL, BENCH_CHANNEL from the env

With ``--channels``: the same route on Litestar's ``ChannelsPlugin`` (Redis pub/sub backend, one
``Subscriber`` per socket) — the stack Hubwire's gateway replaces (realtime/gateway.py).

Started and stopped by bench/fanout/run.py with the same uvicorn settings as ``hubwire serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, WebSocket, websocket

SOCKETS: set[WebSocket] = set()


async def _reader(url: str, channel: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    try:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            text = message["data"].decode()  # once; the same str goes to every socket
            for ws in list(SOCKETS):
                try:
                    await ws.send({"type": "websocket.send", "text": text})
                except Exception:  # noqa: BLE001  (the socket went away)
                    SOCKETS.discard(ws)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        await client.aclose()


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    task = asyncio.create_task(_reader(os.environ["BENCH_REDIS_URL"], os.environ["BENCH_CHANNEL"]))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


@websocket("/ws")
async def subscriber(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send({"type": "websocket.send", "text": '{"type":"subscribed"}'})
    SOCKETS.add(socket)
    try:
        while True:
            message: Any = await socket.receive()
            if message["type"] != "websocket.receive":
                return
    finally:
        SOCKETS.discard(socket)


def create_app() -> Litestar:
    return Litestar(route_handlers=[subscriber], lifespan=[lifespan])


def create_channels_app() -> Litestar:
    """The stack as Litestar documents it: ``ChannelsPlugin`` on its Redis pub/sub backend, one
    ``Subscriber`` per socket (its own queue and a task sending from it, unbounded backlog by
    default), the message forwarded as is."""
    import redis.asyncio as redis
    from litestar.channels import ChannelsPlugin
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend

    channel = os.environ["BENCH_CHANNEL"]

    @websocket("/ws")
    async def channels_subscriber(socket: WebSocket, channels: ChannelsPlugin) -> None:
        await socket.accept()
        async with channels.start_subscription([channel]) as sub:
            await socket.send_text('{"type":"subscribed"}')
            async with sub.run_in_background(socket.send_text):
                while True:
                    message: Any = await socket.receive()
                    if message["type"] != "websocket.receive":
                        return

    backend = RedisChannelsPubSubBackend(redis=redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]))
    return Litestar(route_handlers=[channels_subscriber],
                    plugins=[ChannelsPlugin(backend=backend, channels=[channel])])


if __name__ == "__main__":
    import sys

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--channels", action="store_true", help="the Litestar ChannelsPlugin stack instead")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    # the settings of `hubwire serve` (server/cli.py)
    uvicorn.run("baseline_app:create_channels_app" if args.channels else "baseline_app:create_app", factory=True, host=args.host, port=args.port, workers=1,
                log_level="warning", proxy_headers=False, timeout_graceful_shutdown=10)
