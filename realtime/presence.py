"""Who is online in a hub: several sockets (devices) of one member count once.

Entries carry an expiry (``ttl``, ~60 s) refreshed by the gateway's heartbeat and by client pings,
so an instance that dies takes its members offline within a ttl. Redis (shared by instances) or a
dict (embedded). ``join``/``leave`` say whether the member came online / went offline, which is
when the gateway publishes a ``presence`` frame on ``hub:{id}``.

The same entries bound a member's sockets in a hub across every instance: ``join`` with a
``limit`` refuses a socket (adds nothing, returns None) when the member already has that many live
ones — atomically in Redis, so two instances admitting at the same moment cannot both squeeze in.
Sockets of an instance that died without draining count until their entries expire (a ttl).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

DEFAULT_TTL = 60.0


class InProcessPresence:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._hubs: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)

    def _live(self, hub_id: str, contact_id: str) -> dict[str, float]:
        now = time.monotonic()
        conns = self._hubs[hub_id].get(contact_id, {})
        return {c: exp for c, exp in conns.items() if exp > now}

    async def join(self, hub_id: str, contact_id: str, conn_id: str, limit: int | None = None) -> bool | None:
        """True: the member's first live socket here; False: another device; None: refused, the
        member already has ``limit`` live sockets (nothing added)."""
        live = self._live(hub_id, contact_id)
        if limit is not None and conn_id not in live and len(live) >= limit:
            return None
        first = not live
        live[conn_id] = time.monotonic() + self.ttl
        self._hubs[hub_id][contact_id] = live
        return first

    async def refresh(self, entries: list[tuple[str, str, str]]) -> None:
        for hub_id, contact_id, conn_id in entries:
            self._hubs[hub_id].setdefault(contact_id, {})[conn_id] = time.monotonic() + self.ttl

    async def leave(self, hub_id: str, contact_id: str, conn_id: str) -> bool:
        live = self._live(hub_id, contact_id)
        live.pop(conn_id, None)
        if live:
            self._hubs[hub_id][contact_id] = live
            return False
        hub = self._hubs.get(hub_id)
        if hub is not None:
            hub.pop(contact_id, None)
            if not hub:
                del self._hubs[hub_id]
        return True

    async def online(self, hub_id: str) -> list[str]:
        hub = self._hubs.get(hub_id, {})
        return sorted(c for c in list(hub) if self._live(hub_id, c))


_JOIN = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local before = redis.call('ZCARD', KEYS[2])
local limit = tonumber(ARGV[5] or '0')
if limit > 0 and before >= limit and not redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  return -1
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return before
"""

_LEAVE = """
local now = tonumber(ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local left = redis.call('ZCARD', KEYS[2])
if left == 0 then redis.call('ZREM', KEYS[1], ARGV[3]) end
return left
"""


class RedisPresence:
    def __init__(self, redis: Any, prefix: str, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._redis = redis
        self._prefix = prefix + "rt:pr:"
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)

    def _keys(self, hub_id: str, contact_id: str) -> list[str]:
        return [self._prefix + hub_id, self._prefix + hub_id + ":" + contact_id]

    async def join(self, hub_id: str, contact_id: str, conn_id: str, limit: int | None = None) -> bool | None:
        before = int(await self._join(keys=self._keys(hub_id, contact_id),
                                      args=[_now_ms(), int(self.ttl * 1000), conn_id, contact_id, limit or 0]))
        return None if before < 0 else before == 0

    async def refresh(self, entries: list[tuple[str, str, str]]) -> None:
        if not entries:
            return
        pipe = self._redis.pipeline(transaction=False)
        for hub_id, contact_id, conn_id in entries:
            # awaiting queues the script on the pipeline (it was a never-awaited coroutine: no refresh)
            await self._join(keys=self._keys(hub_id, contact_id),
                             args=[_now_ms(), int(self.ttl * 1000), conn_id, contact_id], client=pipe)
        await pipe.execute()

    async def leave(self, hub_id: str, contact_id: str, conn_id: str) -> bool:
        left = await self._leave(keys=self._keys(hub_id, contact_id), args=[_now_ms(), conn_id, contact_id])
        return int(left) == 0

    async def online(self, hub_id: str) -> list[str]:
        members = await self._redis.zrangebyscore(self._prefix + hub_id, _now_ms(), "+inf")
        return sorted(m.decode() for m in members)


def _now_ms() -> int:
    return int(time.time() * 1000)


Presence = InProcessPresence | RedisPresence
