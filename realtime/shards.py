"""Sharded fan-out: channels spread over several standalone Redis nodes.

One Redis pub/sub carries every event of every instance, so it caps the deployment. With
``HUBWIRE_REDIS_SHARDS`` (a comma-separated list of Redis URLs) each channel lives on one node,
chosen by a stable hash of its name (``shard_of``: CRC-32 of the name, modulo the number of
nodes — the same on every instance and across restarts), and everything about it stays there:
its seq counter, epoch and history (``RedisHistory`` on that node; the stamp script numbers,
stores and PUBLISHes in one step on that node) and its pub/sub traffic (a ``RedisBroker`` per
node, each with its own reader). An instance subscribes on a node only to the channels its
sockets watch, so adding nodes adds fan-out capacity. Presence, rate limits and everything else
stay on ``HUBWIRE_REDIS_URL``.

The order of the URLs is the mapping: every instance must list the same nodes in the same order,
and changing the list moves channels (their history starts over: clients get ``recovered: false``
once, as after a Redis restart). A node that restarts is survived like a single Redis restart: its
reader reconnects, resubscribes and the gateway resyncs (``realtime.resume.resync``), only that
node's channels having lost their history.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.broker import Handler, RedisBroker, redis_client
from realtime.history import RedisHistory, Replay


def shard_of(channel: str, count: int) -> int:
    """The node (0..count-1) that holds ``channel``: stable across processes and restarts."""
    return zlib.crc32(channel.encode()) % count


class ShardedBroker:
    """``RedisBroker``'s interface over several nodes, each channel on ``shard_of`` its name."""

    def __init__(self, urls: list[str], prefix: str = "hubwire:", *, main_url: str | None = None) -> None:
        if not urls:
            raise ValueError("at least one Redis node")
        self.shards = [RedisBroker(url, prefix) for url in urls]
        # presence, rate limits and the rest stay on the main Redis (closed with the broker)
        self._main = redis_client(main_url) if main_url else None

    @property
    def client(self) -> Any:
        """The main Redis (``HUBWIRE_REDIS_URL``), not a shard."""
        return self._main if self._main is not None else self.shards[0].client

    def shard(self, channel: str) -> RedisBroker:
        return self.shards[shard_of(channel, len(self.shards))]

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Called when any node's pub/sub connection came back (the resync reads each feed's
        history from its own node)."""
        for shard in self.shards:
            shard.on_reconnect(callback)

    async def start(self) -> None:
        for shard in self.shards:
            await shard.start()

    async def stop(self) -> None:
        for shard in self.shards:
            await shard.stop()
        if self._main is not None:
            await self._main.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        await self.shard(channel).publish(channel, payload)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        await self.shard(channel).subscribe(channel, handler)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        await self.shard(channel).unsubscribe(channel, handler)

    async def ping(self) -> bool:
        return all([await shard.ping() for shard in self.shards])

    def behind(self, now: float) -> float:
        return max(shard.behind(now) for shard in self.shards)


class ShardedHistory:
    """``RedisHistory`` on the node of each channel (the same node its events are published on)."""

    def __init__(self, broker: ShardedBroker, prefix: str) -> None:
        self._broker = broker
        self._nodes = [RedisHistory(shard.client, prefix) for shard in broker.shards]

    def _node(self, channel: str) -> RedisHistory:
        return self._nodes[shard_of(channel, len(self._nodes))]

    async def stamp(self, channel: str, prefix: bytes, suffix: bytes, *, dedup: str | None = None,
                    publish_to: str | None = None) -> tuple[int, bytes]:
        return await self._node(channel).stamp(channel, prefix, suffix, dedup=dedup, publish_to=publish_to)

    async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Replay:
        return await self._node(channel).replay(channel, since, epoch)

    async def between(self, channel: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        return await self._node(channel).between(channel, after, upto)

    def sweep(self) -> None:
        return None  # Redis expires idle channels' keys itself


def is_sharded(broker: Any) -> bool:
    return isinstance(broker, ShardedBroker)
