"""What the metrics show while Redis is away and once it is back, on a `hubwire serve` of its own
and a redis-server of our own (never the shared one): the live events kept in the realtime outbox
(how many, how old), then emptied, and one Redis reconnect counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.faults import OwnRedis
from tests.support.realtime import make_world, start_server, stop_server

TOKEN = "metrics-test-token-outage-0123"


def scrape(base: str) -> dict[str, float]:
    r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0)
    assert r.status_code == 200, r.text
    return {s.name: s.value for f in text_string_to_metric_families(r.text) for s in f.samples if not s.labels}


async def until(base: str, check, timeout: float = 20.0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        s = scrape(base)
        if check(s) or loop.time() > deadline:
            return s
        await asyncio.sleep(0.2)


async def test_realtime_outbox_and_redis_reconnects_in_the_metrics(tmp_path: Path, own_database_url: str,
                                                                   redis_prefix: str) -> None:
    redis = OwnRedis(tmp_path / "redis.log")
    redis.start()
    srv = start_server(tmp_path, own_database_url, redis_prefix, "outage", HUBWIRE_REDIS_URL=redis.url,
                       HUBWIRE_METRICS_TOKEN=TOKEN)
    try:
        world = make_world(srv.base)
        s = scrape(srv.base)
        assert s["hubwire_redis_reconnects_total"] == 0
        assert s["hubwire_realtime_outbox_events"] == 0 and s["hubwire_realtime_outbox_oldest_seconds"] == 0
        redis.stop()
        world.announce("while Redis is away")  # committed; its live event waits in the outbox
        s = await until(srv.base, lambda s: s["hubwire_realtime_outbox_events"] >= 1)
        assert s["hubwire_realtime_outbox_events"] == 1
        assert s["hubwire_realtime_outbox_oldest_seconds"] >= 0
        redis.start()
        s = await until(srv.base, lambda s: s["hubwire_redis_reconnects_total"] >= 1
                        and s["hubwire_realtime_outbox_events"] == 0)
        assert s["hubwire_redis_reconnects_total"] == 1
        assert s["hubwire_realtime_outbox_events"] == 0 and s["hubwire_realtime_outbox_oldest_seconds"] == 0
    finally:
        stop_server(srv)
        redis.stop()
