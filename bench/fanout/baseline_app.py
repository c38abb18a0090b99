"""The bare baseline of bench/fanout: Litestar + Redis pub/sub, nothing else.

One WebSocket route, ``/ws``: the socket is accepted (no auth), told ``{"type":"subscribed"}`` and
added to a set; one Redis pub/sub reader per process (same client library and read loop as
Hubwire's ``RedisBroker``) forwards each message, decoded once, to every local socket with the raw
ASGI send Hubwire's transport uses. No seq, no history, no queue, no access checks.

    python bench/fanout/baseline_app.py --port 8101   # BENCH_REDIS_URL, BENCH_CHANNEL from the env

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


if __name__ == "__main__":
    import sys

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    # the settings of `hubwire serve` (server/cli.py)
    uvicorn.run("baseline_app:create_app", factory=True, host=args.host, port=args.port, workers=1,
                log_level="warning", proxy_headers=False, timeout_graceful_shutdown=10)
