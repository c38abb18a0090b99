"""Prometheus metrics: ``GET /metrics`` in the text exposition format (docs/deploy.md#metrics).

Not public: the route answers 404 unless ``HUBWIRE_METRICS_TOKEN`` is set, and then only to
``Authorization: Bearer <that token>``.

Several worker processes (``hubwire serve --workers N``): the CLI points
``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before the workers start; prometheus-client then
keeps every process's values in files there and a scrape, whichever worker answers it, adds them
up (gauges of per-process things, sockets and pool use, are summed over the live processes).

What is counted where:

- HTTP requests and their latency by route template and status: ``server/errors.py`` ``edge``
  calls :func:`observe_request` once per response.
- The realtime layer keeps plain integers (``realtime/stats.py``: no lock on the per-frame path);
  :func:`sync` turns their increase into counters, and sets the socket, stream and subscription
  gauges from the gateway. It runs every few seconds in each process and before each scrape.
- Access decisions: ``domain/access/service.py`` tells :func:`observe_decision`; cache hits and
  misses are read from each process's facts cache by :func:`sync`.
- Background jobs (email outbox by status, its oldest pending message, the realtime outbox, the
  payment-provider events) are read from the database at scrape time: they are shared state, the
  same whichever process answers.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from domain.access import service as access_service
from persistence.models import EmailOutbox, PaymentWebhookEvent, RealtimeOutbox
from realtime.stats import STATS

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
SYNC_INTERVAL = 5.0  # seconds between a process's syncs of its realtime counts and gauges

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("hubwire_http_requests", "HTTP responses by method, route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("hubwire_http_request_duration_seconds", "Time to the end of the response body",
                         ["method", "route"], buckets=_LATENCY)

RT_CONNECTIONS = Gauge("hubwire_realtime_connections", "Open realtime connections by transport",
                       ["transport"], multiprocess_mode="livesum")
RT_SUBSCRIPTIONS = Gauge("hubwire_realtime_subscriptions", "Channel subscriptions of the open connections",
                         multiprocess_mode="livesum")
RT_DELIVERIES = Counter("hubwire_realtime_deliveries", "Event frames handed to subscribers")
RT_DROPPED = Counter("hubwire_realtime_frames_dropped",
                     "Frames dropped: presence/typing on a half-full queue, and what a cut-off discarded")
RT_SLOW = Counter("hubwire_realtime_slow_consumer_closes", "Sockets closed with 4008 (slow consumer)")
RT_RESUMES = Counter("hubwire_realtime_resumes", "Subscriptions with `since`, by outcome", ["outcome"])
REDIS_RECONNECTS = Counter("hubwire_redis_reconnects", "Times the Redis pub/sub connection came back")

ACCESS_DECISIONS = Counter("hubwire_access_decisions", "Access evaluator decisions", ["action", "outcome"])
ACCESS_LATENCY = Histogram("hubwire_access_decision_duration_seconds", "Time to load facts and decide",
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
ACCESS_CACHE = Counter("hubwire_access_cache_lookups", "Access facts cache lookups", ["result"])

DB_POOL_IN_USE = Gauge("hubwire_db_pool_connections_in_use", "Database connections checked out",
                       multiprocess_mode="livesum")
DB_POOL_SIZE = Gauge("hubwire_db_pool_size", "Database connections held by the pool (idle or in use)",
                     multiprocess_mode="livesum")


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def observe_decision(action: str, allowed: bool, seconds: float) -> None:
    ACCESS_DECISIONS.labels(action, "allowed" if allowed else "denied").inc()
    ACCESS_LATENCY.observe(seconds)


if observe_decision not in access_service.DECISION_OBSERVERS:
    access_service.DECISION_OBSERVERS.append(observe_decision)


# ---- syncing what is counted without Prometheus ----------------------------------------------------

_STAT_COUNTERS = (("deliveries", RT_DELIVERIES), ("frames_dropped", RT_DROPPED),
                  ("slow_consumer_closes", RT_SLOW), ("resumes_recovered", RT_RESUMES.labels("recovered")),
                  ("resumes_not_recovered", RT_RESUMES.labels("not_recovered")))
_seen: dict[str, int] = {name: 0 for name, _ in _STAT_COUNTERS}
_apps: dict[int, Any] = {}  # this process's running apps (one, except in tests), by id
_cache_seen: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()
SSE_STREAMS = {"open": 0}  # open SSE streams of this process (server/api/realtime/transports.py)


def sync() -> None:
    """Turn this process's plain counts into Prometheus values (cheap: a few additions)."""
    for name, counter in _STAT_COUNTERS:
        now = getattr(STATS, name)
        if now > _seen[name]:
            counter.inc(now - _seen[name])
        _seen[name] = now
    connections = subscriptions = 0
    in_use = size = 0
    for app in list(_apps.values()):
        services = app.state.services
        gateway = getattr(app.state, "realtime", None)
        if gateway is not None:
            connections += len(gateway.connections)
            subscriptions += sum(len(c.channels) for c in gateway.connections)
        cache = services.access_cache
        hits, misses = _cache_seen.get(cache, (0, 0))
        if cache.hits > hits:
            ACCESS_CACHE.labels("hit").inc(cache.hits - hits)
        if cache.misses > misses:
            ACCESS_CACHE.labels("miss").inc(cache.misses - misses)
        _cache_seen[cache] = (cache.hits, cache.misses)
        pool = services.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            in_use += checked_out()
            size += pool.checkedin() + checked_out()  # type: ignore[attr-defined]
    sse = SSE_STREAMS["open"]
    RT_CONNECTIONS.labels("sse").set(sse)
    RT_CONNECTIONS.labels("websocket").set(max(0, connections - sse))
    RT_SUBSCRIPTIONS.set(subscriptions)
    DB_POOL_IN_USE.set(in_use)
    DB_POOL_SIZE.set(size)


def redis_reconnected() -> None:
    REDIS_RECONNECTS.inc()


# ---- what the database says (shared by every process) -------------------------------------------

class _Snapshot:
    """A collector answering with values read just before the scrape (see :func:`render`)."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


async def _job_families(services: Any) -> list[GaugeMetricFamily]:
    now = services.clock.now()
    emails = GaugeMetricFamily("hubwire_email_outbox_messages", "Emails in the outbox by status "
                               "(pending: not sent yet; failed: given up)", labels=["status"])
    oldest = GaugeMetricFamily("hubwire_email_outbox_oldest_pending_seconds",
                               "Age of the oldest email waiting to be sent (0 when none)")
    rt = GaugeMetricFamily("hubwire_realtime_outbox_events", "Live events waiting for the broker to come back")
    rt_oldest = GaugeMetricFamily("hubwire_realtime_outbox_oldest_seconds",
                                  "Age of the oldest live event waiting for the broker (0 when none)")
    provider = GaugeMetricFamily("hubwire_provider_events", "Payment-provider events by status", labels=["status"])
    async with services.sessions() as s:
        counts = dict((await s.execute(sa.select(EmailOutbox.status, sa.func.count())
                                       .group_by(EmailOutbox.status))).all())
        first = await s.scalar(sa.select(sa.func.min(EmailOutbox.created_at)).where(EmailOutbox.status == "pending"))
        rt_count = await s.scalar(sa.select(sa.func.count()).select_from(RealtimeOutbox))
        rt_first = await s.scalar(sa.select(sa.func.min(RealtimeOutbox.created_at)))
        events = dict((await s.execute(sa.select(PaymentWebhookEvent.status, sa.func.count())
                                       .group_by(PaymentWebhookEvent.status))).all())
    for status in ("pending", "sent", "failed"):
        emails.add_metric([status], float(counts.get(status, 0)))
    oldest.add_metric([], _age(now, first))
    rt.add_metric([], float(rt_count or 0))
    rt_oldest.add_metric([], _age(now, rt_first))
    for status in sorted({"pending", "processed", "failed", *events}):
        provider.add_metric([status], float(events.get(status, 0)))
    return [emails, oldest, rt, rt_oldest, provider]


def _age(now: Any, then: Any) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max(0.0, (now - then).total_seconds())


async def render(services: Any) -> tuple[bytes, str]:
    """The scrape: this process synced, every process's values, and the database's."""
    sync()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    jobs = CollectorRegistry()
    jobs.register(_Snapshot(await _job_families(services)))  # type: ignore[arg-type]
    return body + generate_latest(jobs), CONTENT_TYPE_LATEST


def token_matches(expected: str | None, header: str | None) -> bool:
    if not expected or not header:
        return False
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


@asynccontextmanager
async def metrics_lifespan(app: Any) -> AsyncIterator[None]:
    """Register the app for :func:`sync`, count Redis reconnects, and sync every few seconds (so a
    scrape answered by another worker sees this one's counts)."""
    _apps[id(app)] = app
    app.state.services.broker.on_reconnect(_count_reconnect)
    task = asyncio.create_task(_sync_loop(), name="hubwire-metrics-sync") if MULTIPROCESS else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
        sync()
        _apps.pop(id(app), None)
        if MULTIPROCESS:
            multiprocess.mark_process_dead(os.getpid())


async def _count_reconnect() -> None:
    redis_reconnected()


async def _sync_loop() -> None:
    while True:
        await asyncio.sleep(SYNC_INTERVAL)
        sync()
