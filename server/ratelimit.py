"""Fixed-window rate limits, in-process (embedded) or in Redis (shared by all instances)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window resets
    count: int = 0  # events counted in the window so far (``hit``)


class MemoryRateLimiter:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._clock = clock

    async def hit(self, key: str, limit: int, window: int, *, cost: int = 1) -> Verdict:
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        count += cost
        self._windows[key] = (start, count)
        if len(self._windows) > 100_000:  # bound memory: drop expired windows
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window}
        return Verdict(count <= limit, max(1, int(start + window - now + 0.999)), count)

    async def hit_many(self, checks: list[tuple[str, int, int]]) -> list[Verdict]:
        """``hit`` for each ``(key, limit, window)``, in order."""
        return [await self.hit(key, limit, window) for key, limit, window in checks]

    async def peek(self, key: str, limit: int, window: int) -> Verdict:
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            return Verdict(True, 0)
        return Verdict(count < limit, max(1, int(start + window - now + 0.999)))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter:
    def __init__(self, redis: Any, prefix: str = "hubwire:rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, limit: int, window: int, *, cost: int = 1) -> Verdict:
        k = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(k, cost)
            pipe.expire(k, window, nx=True)
            pipe.ttl(k)
            count, _, ttl = await pipe.execute()
        return Verdict(int(count) <= limit, max(1, int(ttl)), int(count))

    async def hit_many(self, checks: list[tuple[str, int, int]]) -> list[Verdict]:
        """``hit`` for each ``(key, limit, window)``, in one round trip (one MULTI/EXEC: a request's
        per-key and per-IP windows are counted together)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, _limit, window in checks:
                k = self._prefix + key
                pipe.incrby(k, 1)
                pipe.expire(k, window, nx=True)
                pipe.ttl(k)
            replies = await pipe.execute()
        return [Verdict(int(replies[3 * i]) <= limit, max(1, int(replies[3 * i + 2])), int(replies[3 * i]))
                for i, (_key, limit, _window) in enumerate(checks)]

    async def peek(self, key: str, limit: int, window: int) -> Verdict:
        k = self._prefix + key
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(k)
            pipe.ttl(k)
            count, ttl = await pipe.execute()
        if count is None:
            return Verdict(True, 0)
        return Verdict(int(count) < limit, max(1, int(ttl)))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


RateLimiter = MemoryRateLimiter | RedisRateLimiter
