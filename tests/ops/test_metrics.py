"""/metrics: not public by default, and what a scrape shows after a scripted session against a real
`hubwire serve --workers 2` on Redis (requests, a socket, a delivery, an access decision, an
email), the counts of both workers added up; on the embedded default (in-process broker) one
worker in the same multiprocess mode."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from tests.support.api import unique_email
from tests.support.backends import REDIS_URL, make_settings
from tests.support.realtime import JSONAPI, Client, make_world, stop_server
from tests.support.servers import ServerProcess, free_port

TOKEN = "metrics-test-token-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


# ---- in-process: who may scrape ------------------------------------------------------------------------


async def test_metrics_are_not_public_by_default(settings: Any, client: AsyncTestClient[Litestar]) -> None:
    assert settings.metrics_token is None
    r = await client.get("/metrics")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


async def test_metrics_need_the_configured_token(tmp_path: Path, database_url: str, redis_prefix: str) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_prefix, HUBWIRE_METRICS_TOKEN=TOKEN))
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})).status_code == 401
        await c.get("/health")
        r = await c.get("/metrics", headers=SCRAPE)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        samples = parse(r.text)
        assert value(samples, "hubwire_http_requests_total", method="GET", route="/health", status="200") >= 1
        # two refused scrapes, counted under the route's template with their status
        assert value(samples, "hubwire_http_requests_total", method="GET", route="/metrics", status="401") >= 2
        assert value(samples, "hubwire_email_outbox_messages", status="pending") >= 0
        assert ("hubwire_db_pool_connections_in_use", ()) in samples


# ---- a real server with two workers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, servers_database_url: str,
           redis_prefix: str) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("metrics")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBWIRE_", "PROMETHEUS_"))}
    env.update(HUBWIRE_DATA_DIR=str(tmp / "data"), HUBWIRE_DATABASE_URL=servers_database_url,
               HUBWIRE_PASSWORD_HASHING="fast", HUBWIRE_REDIS_PREFIX=redis_prefix,
               HUBWIRE_SECRET_KEY="metrics-test-secret-" + "z" * 40, HUBWIRE_METRICS_TOKEN=TOKEN,
               HUBWIRE_LOG_LEVEL="WARNING")
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
        workers = "2"  # live events cross workers through Redis
    else:
        # The in-process broker does not cross processes: one worker, its metrics still kept in
        # the multiprocess files the way `--workers N` keeps them.
        workers = "1"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prom")
        (tmp / "prom").mkdir()
    srv = ServerProcess(env, free_port(), tmp / "server.log", "--workers", workers)
    srv.wait_ready()
    try:
        yield srv
    finally:
        stop_server(srv)


def scrape(srv: ServerProcess) -> Samples:
    r = httpx.get(srv.base + "/metrics", headers=SCRAPE, timeout=10.0)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def until(srv: ServerProcess, check: Any, timeout: float = 20.0) -> Samples:
    """Scrape until ``check(samples)`` holds: with two workers a scrape is answered by either, and
    the other's counts arrive with its next sync (every few seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = scrape(srv)
        if check(samples):
            return samples
        if asyncio.get_running_loop().time() > deadline:
            return samples  # the caller's asserts say what is missing
        await asyncio.sleep(0.2)


async def test_a_scripted_session_shows_in_the_metrics_of_both_workers(server: ServerProcess) -> None:
    before = scrape(server)
    assert total(before, "hubwire_realtime_connections") == 0

    world = make_world(server.base)  # register (POST), list teams (GET), create a hub (POST)
    email = unique_email("metrics")
    with world.http() as http:
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/memberships",
                      headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "hub_memberships", "attributes": {"email": email}}})
        assert r.status_code == 201, r.text
        contact_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/member-tokens",
                      headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "member_tokens", "attributes": {"contact_id": contact_id}}})
        assert r.status_code == 201, r.text
        member_token = r.json()["data"]["attributes"]["access_token"]
        for _ in range(7):  # spread over both workers; the sum is what counts
            assert http.get("/api/v1/teams", headers=world.staff).status_code == 200
        # an email: a sign-in link for the member, sent by a worker's email job (.eml files here)
        r = http.post("/api/v1/contact-auth/register", json={"email": email, "hub_id": world.hub_id})
        assert r.status_code == 202, r.text

    sock = await Client.connect(server, f"/api/v1/hub/{world.hub_id}/ws", member_token)
    try:
        sub = await sock.subscribe(f"hub:{world.hub_id}")
        assert sub["type"] == "subscribed", sub
        world.announce("Metrics")  # one event, delivered to the one socket
        await sock.event("announcement.created")

        def during(s: Samples) -> bool:
            return (total(s, "hubwire_realtime_connections") == 1
                    and total(s, "hubwire_realtime_deliveries_total") - total(before, "hubwire_realtime_deliveries_total") >= 1
                    and value(s, "hubwire_email_outbox_messages", status="sent")
                    - value(before, "hubwire_email_outbox_messages", status="sent") >= 1
                    and total(s, "hubwire_http_requests_total", method="GET", route="/api/v1/teams", status="200")
                    - total(before, "hubwire_http_requests_total", method="GET", route="/api/v1/teams", status="200") >= 8)

        s = await until(server, during)
        d = {name: total(s, name, **labels) - total(before, name, **labels) for name, labels in [
            ("hubwire_http_requests_total", {"method": "POST", "route": "/api/v1/auth/register", "status": "201"}),
            ("hubwire_http_requests_total", {"method": "GET", "route": "/api/v1/teams", "status": "200"}),
            ("hubwire_http_request_duration_seconds_count", {"method": "GET", "route": "/api/v1/teams"}),
            ("hubwire_realtime_deliveries_total", {}),
            ("hubwire_email_outbox_messages", {"status": "sent"}),
            ("hubwire_access_decisions_total", {"outcome": "allowed"}),
            ("hubwire_access_decision_duration_seconds_count", {}),
        ]}
        print("metric deltas:", d)
        assert value(s, "hubwire_realtime_connections", transport="websocket") == 1
        assert value(s, "hubwire_realtime_connections", transport="sse") == 0
        assert total(s, "hubwire_realtime_subscriptions") == 1
        # make_world's GET /api/v1/teams, then seven more: counted once each, whichever worker answered
        assert total(s, "hubwire_http_requests_total", method="GET", route="/api/v1/teams", status="200") \
            - total(before, "hubwire_http_requests_total", method="GET", route="/api/v1/teams", status="200") == 8
        assert total(s, "hubwire_http_requests_total", method="POST", route="/api/v1/auth/register", status="201") \
            - total(before, "hubwire_http_requests_total", method="POST", route="/api/v1/auth/register", status="201") == 1
        assert total(s, "hubwire_http_request_duration_seconds_count", method="GET", route="/api/v1/teams") \
            - total(before, "hubwire_http_request_duration_seconds_count", method="GET", route="/api/v1/teams") == 8
        # ids never become labels: the hub's id is in no route label
        assert not any(world.hub_id in str(labels) for (_, labels) in s)
        assert total(s, "hubwire_realtime_deliveries_total") - total(before, "hubwire_realtime_deliveries_total") == 1
        assert value(s, "hubwire_email_outbox_messages", status="sent") \
            - value(before, "hubwire_email_outbox_messages", status="sent") == 1
        # the subscription asked the evaluator (allowed); each decision was timed
        decisions = total(s, "hubwire_access_decisions_total") - total(before, "hubwire_access_decisions_total")
        assert total(s, "hubwire_access_decisions_total", action="view", outcome="allowed") \
            - total(before, "hubwire_access_decisions_total", action="view", outcome="allowed") >= 1
        assert total(s, "hubwire_access_decision_duration_seconds_count") \
            - total(before, "hubwire_access_decision_duration_seconds_count") == decisions
        assert total(s, "hubwire_access_cache_lookups_total") > total(before, "hubwire_access_cache_lookups_total")
        assert total(s, "hubwire_realtime_frames_dropped_total") == 0
        assert total(s, "hubwire_realtime_slow_consumer_closes_total") == 0
        assert value(s, "hubwire_email_outbox_oldest_pending_seconds") >= 0
        assert ("hubwire_db_pool_connections_in_use", ()) in s
    finally:
        await sock.close()

    s = await until(server, lambda s: total(s, "hubwire_realtime_connections") == 0)
    assert total(s, "hubwire_realtime_connections") == 0
    assert total(s, "hubwire_realtime_subscriptions") == 0


async def test_a_resume_is_counted_by_its_outcome(server: ServerProcess) -> None:
    world = make_world(server.base)
    _, token = world.add_member()
    before = scrape(server)
    sock = await Client.connect(server, f"/api/v1/hub/{world.hub_id}/ws", token)
    try:
        first = await sock.subscribe(f"hub:{world.hub_id}")
        assert first["type"] == "subscribed"
        await sock.send(op="unsubscribe", channel=f"hub:{world.hub_id}")
        await sock.until(lambda f: f["type"] == "unsubscribed")
        world.announce("missed")
        again = await sock.subscribe(f"hub:{world.hub_id}", since=first["seq"], epoch=first["epoch"])
        assert again["recovered"] is True
        await sock.send(op="unsubscribe", channel=f"hub:{world.hub_id}")
        await sock.until(lambda f: f["type"] == "unsubscribed")
        lost = await sock.subscribe(f"hub:{world.hub_id}", since=1, epoch="not-this-epoch")
        assert lost["recovered"] is False
    finally:
        await sock.close()

    def resumed(s: Samples) -> bool:
        return all(value(s, "hubwire_realtime_resumes_total", outcome=o)
                   - value(before, "hubwire_realtime_resumes_total", outcome=o) >= 1
                   for o in ("recovered", "not_recovered"))

    s = await until(server, resumed)
    for outcome in ("recovered", "not_recovered"):
        assert value(s, "hubwire_realtime_resumes_total", outcome=outcome) \
            - value(before, "hubwire_realtime_resumes_total", outcome=outcome) == 1, outcome

