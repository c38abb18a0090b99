"""Limits: the REST API's rate limits per credential and per IP with their IETF-draft headers, and
the request body size (server/limits.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from realtime.broker import RedisBroker
from server.app import create_app
from server.ratelimit import MemoryRateLimiter, RedisRateLimiter
from server.settings import Settings, SettingsError
from tests.support.api import assert_error, bearer, register
from tests.support.backends import REDIS_URL, make_settings
from tests.support.faults import OwnRedis

RATELIMIT = re.compile(r'^"(per-key|per-ip)";r=(\d+);t=(\d+)$')


@pytest.fixture
async def limited(tmp_path: Path, database_url: str, redis_prefix: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # a prefix of its own: these counts start at zero whatever else ran
    app = create_app(make_settings(tmp_path, database_url, f"{redis_prefix}limits-{uuid.uuid4().hex[:8]}:",
                                   HUBWIRE_RATE_LIMIT_PER_KEY="5", HUBWIRE_RATE_LIMIT_PER_IP="8",
                                   HUBWIRE_RATE_LIMIT_WINDOW="3600", HUBWIRE_MAX_JSON_BODY="2048"))
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield c


def parsed(header: str) -> tuple[str, int, int]:
    m = RATELIMIT.match(header)
    assert m, header
    return m.group(1), int(m.group(2)), int(m.group(3))


async def test_per_key_limit_counts_down_then_429_with_retry_after(limited: AsyncTestClient[Litestar]) -> None:
    staff = await register(limited)  # register (the IP's 1st: no credential yet), then GET teams (the key's 1st)
    seen = []
    for _ in range(4):
        r = await limited.get("/api/v1/teams", headers=staff.headers)
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-policy"] == '"per-key";q=5;w=3600, "per-ip";q=8;w=3600'
        seen.append(parsed(r.headers["ratelimit"]))
    # the key's window is the tighter one: 3, 2, 1, 0 left
    assert [(name, left) for name, left, _ in seen] == [("per-key", n) for n in (3, 2, 1, 0)]
    assert all(0 < reset <= 3600 for _, _, reset in seen)
    r = await limited.get("/api/v1/teams", headers=staff.headers)
    err = assert_error(r, 429, "rate_limited")
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= 3600 and err["meta"]["retry_after"] == retry_after
    assert parsed(r.headers["ratelimit"])[:2] == ("per-key", 0)
    assert r.headers["x-request-id"]
    # another credential from the same address still gets through, until the address's own limit
    other = await limited.get("/api/v1/teams", headers=bearer("hw_sk_not-a-real-key-0000000000"))
    assert other.status_code == 401  # counted, then refused by authentication
    name, left, _ = parsed(other.headers["ratelimit"])
    assert (name, left) == ("per-ip", 0)  # register + 6 with the token + this one = 8
    r = await limited.get("/api/v1/teams", headers=bearer("hw_sk_another-key-11111111111"))
    assert_error(r, 429, "rate_limited")
    assert parsed(r.headers["ratelimit"])[0] == "per-ip"


@pytest.fixture(params=["memory", "redis"] if REDIS_URL else ["memory"])
async def limiter(request: Any) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    client = RedisBroker(REDIS_URL).client  # the client every Redis-backed limiter is given
    yield RedisRateLimiter(client, f"hubwire-test:rl:{uuid.uuid4().hex[:8]}:")
    await client.aclose()


async def test_a_burst_of_concurrent_checks_lets_exactly_the_limit_through(limiter: Any) -> None:
    """300 requests' checks at once against a limit of 8: 8 allowed, 292 refused, none failed.
    (redis-py's default pool refused a command past 100 concurrent connections instead of waiting,
    and the limiter fails open on a failed check: 400 concurrent requests on one instance slipped
    11,003 of 12,776 checks. The broker's client queues on a blocking pool: realtime/broker.py.)"""
    key = f"ip:{uuid.uuid4().hex}"
    verdicts = await asyncio.gather(*(limiter.hit_many([(key, 8, 3600), (key + ":other", 10**6, 3600)])
                                      for _ in range(300)))
    assert Counter(v[0].allowed for v in verdicts) == {True: 8, False: 292}
    assert sorted(v[0].count for v in verdicts) == list(range(1, 301))


async def test_a_window_counts_its_cost_then_starts_over(limiter: Any) -> None:
    key = f"login:{uuid.uuid4().hex}"
    v = await limiter.hit(key, 3, 1, cost=2)
    assert (v.allowed, v.count, v.retry_after) == (True, 2, 1)
    [a, b] = await limiter.hit_many([(key, 3, 1), (key + ":b", 1, 60)])
    assert (a.allowed, a.count, b.allowed, b.count) == (True, 3, True, 1)
    assert (b.retry_after > 1) and not (await limiter.hit(key, 3, 1)).allowed  # 4 of 3
    await asyncio.sleep(1.2)  # the 1 s window is over: counting starts again
    assert (await limiter.hit(key, 3, 1)).count == 1


async def test_the_redis_limiter_survives_a_redis_restart_and_mends_a_window_without_expiry(tmp_path: Path) -> None:
    """The limiter counts with a Lua script (EVALSHA): a Redis restart forgets loaded scripts, and
    the next hit loads it again instead of failing (which would let every request through)."""
    own = OwnRedis(tmp_path / "redis.log")
    own.start()
    client = RedisBroker(own.url).client
    limiter = RedisRateLimiter(client, "hubwire-test:rl:")
    try:
        assert (await limiter.hit("k", 5, 60)).count == 1
        own.stop()
        own.start()  # no persistence: counts and scripts are gone
        with contextlib.suppress(redis.exceptions.ConnectionError):
            await client.ping()  # the pooled connection died with the server: this finds out
        assert (await limiter.hit("k", 5, 60)).count == 1
        await client.set(limiter._prefix + "stuck", 7)  # a count left without an expiry
        v = await limiter.hit("stuck", 5, 30)
        assert (v.allowed, v.count, v.retry_after) == (False, 8, 30)
        assert 0 < await client.ttl(limiter._prefix + "stuck") <= 30
    finally:
        await client.aclose()
        own.stop()


async def test_probes_pages_and_webhooks_are_not_rate_limited(limited: AsyncTestClient[Litestar]) -> None:
    for _ in range(10):
        r = await limited.get("/health")
        assert r.status_code == 200 and "ratelimit" not in r.headers
    for _ in range(10):
        r = await limited.post("/api/v1/webhooks/stripe", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code != 429 and "ratelimit" not in r.headers


async def test_an_oversized_json_body_is_refused_with_413_and_changes_nothing(
        limited: AsyncTestClient[Litestar]) -> None:
    staff = await register(limited)
    big = {"data": {"type": "teams", "attributes": {"name": "x" * 4096}}}
    r = await limited.post("/api/v1/teams", json=big, headers=staff.headers)
    assert_error(r, 413, "payload_too_large")
    teams = (await limited.get("/api/v1/teams", headers=staff.headers)).json()["data"]
    assert len(teams) == 1  # the personal team only
    small = {"data": {"type": "teams", "attributes": {"name": "Small"}}}
    assert (await limited.post("/api/v1/teams", json=small, headers=staff.headers)).status_code == 201


def test_limits_are_configured_by_environment(tmp_path: Path) -> None:
    base = {"HUBWIRE_DATA_DIR": str(tmp_path)}
    s = Settings.from_env(base)
    assert (s.rate_limit_per_key, s.rate_limit_per_ip, s.rate_limit_window_seconds) == (1200, 2400, 60)
    # an upload's body: the largest file (HUBWIRE_MEDIA_MAX_BYTES) and 64 KiB of envelope, or more
    assert (s.max_json_body_bytes, s.max_upload_body_bytes) == (1_000_000, 100 * 1024 * 1024 + 65536)
    s = Settings.from_env({**base, "HUBWIRE_MEDIA_MAX_BYTES": "4096"})
    assert s.max_upload_body_bytes == 4096 + 65536
    s = Settings.from_env({**base, "HUBWIRE_MEDIA_MAX_BYTES": "4096", "HUBWIRE_MAX_UPLOAD_BODY": "200000"})
    assert s.max_upload_body_bytes == 200_000
    s = Settings.from_env({**base, "HUBWIRE_RATE_LIMIT_PER_KEY": "0", "HUBWIRE_MAX_JSON_BODY": "4096"})
    assert s.rate_limit_per_key == 0 and s.max_json_body_bytes == 4096
    for name, bad in [("HUBWIRE_RATE_LIMIT_PER_IP", "-1"), ("HUBWIRE_RATE_LIMIT_WINDOW", "0"),
                      ("HUBWIRE_MAX_JSON_BODY", "ten"), ("HUBWIRE_MAX_UPLOAD_BODY", "100000000")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**base, name: bad})
