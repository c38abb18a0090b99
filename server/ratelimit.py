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


# Count one hit in each window (KEYS[i], ARGV[2i-1] = cost, ARGV[2i] = its length in seconds) and
# answer {count, ttl} for each: one command and one reply for all of a request's windows, where a
# MULTI/EXEC of INCRBY, EXPIRE NX and TTL per window was 3n + 2 replies to parse (0.39 → 0.23 ms of
# CPU per REST request on the bench box, bench/README.md). A window without an expiry (left by a
# crash between INCRBY and EXPIRE in an older version) gets one.
_HIT = """
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  local count = redis.call('INCRBY', key, tonumber(ARGV[2 * i - 1]))
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, window)
    ttl = window
  end
  out[2 * i - 1] = count
  out[2 * i] = ttl
end
return out
"""


class RedisRateLimiter:
    def __init__(self, redis: Any, prefix: str = "hubwire:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._hit = redis.register_script(_HIT)  # EVALSHA, loading the script again after a restart

    async def hit(self, key: str, limit: int, window: int, *, cost: int = 1) -> Verdict:
        return (await self._count([(key, limit, window)], cost))[0]

    async def hit_many(self, checks: list[tuple[str, int, int]]) -> list[Verdict]:
        """``hit`` for each ``(key, limit, window)``, in one round trip and one command (a request's
        per-key and per-IP windows are counted together)."""
        return await self._count(checks, 1)

    async def _count(self, checks: list[tuple[str, int, int]], cost: int) -> list[Verdict]:
        replies = await self._hit(keys=[self._prefix + key for key, _limit, _window in checks],
                                  args=[v for _key, _limit, window in checks for v in (cost, window)])
        return [Verdict(int(replies[2 * i]) <= limit, max(1, int(replies[2 * i + 1])), int(replies[2 * i]))
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
