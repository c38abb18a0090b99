"""Redis goes away while members are connected and staff keep working (issue 13, defects 1 and 2).

Two `hubwire serve` instances on the run's database and on a redis-server of our own (never the
shared one), which is killed and started again, empty. On both backend passes: the SQLite pass
runs the two instances on one SQLite file.

* a ban issued while Redis is down closes the member's socket (4403) once Redis is back: every
  socket is re-checked against the evaluator before events flow again;
* announcements posted while Redis is down (201) reach every subscriber once it is back, in order,
  after a ``recovered: false`` notice: they waited in the realtime outbox.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.faults import OwnRedis
from tests.support.realtime import JSONAPI, Client, World, make_world, start_server
from tests.support.servers import ServerProcess


def recovery(label: str, seconds: float) -> None:
    print(f"\nRECOVERY {label}: {seconds * 1000:.0f} ms", flush=True)


@pytest.fixture
def redis_of_our_own(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path / "redis.log")
    r.start()
    try:
        yield r
    finally:
        r.stop()


def hub_ws(w: World) -> str:
    return f"/api/v1/hub/{w.hub_id}/ws"


def events(c: Client) -> list[dict]:
    return [f for f in c.frames if f["type"] == "event"]


async def test_ban_and_events_while_redis_is_down_arrive_once_it_is_back(
        redis_of_our_own: OwnRedis, tmp_path: Path, own_database_url: str, redis_prefix: str) -> None:
    env = {"HUBWIRE_REDIS_URL": redis_of_our_own.url}
    servers: list[ServerProcess] = []
    try:
        servers.append(start_server(tmp_path, own_database_url, redis_prefix, "oa", **env))
        servers.append(start_server(tmp_path, own_database_url, redis_prefix, "ob", **env))
        a, b = servers
        w = make_world(a.base)
        channel = f"hub:{w.hub_id}"
        banned_id, banned_token = w.add_member()
        _, token_a = w.add_member()
        _, token_b = w.add_member()
        victim = await Client.connect(a, hub_ws(w), banned_token)
        on_a = await Client.connect(a, hub_ws(w), token_a)
        on_b = await Client.connect(b, hub_ws(w), token_b)
        for c in (victim, on_a, on_b):
            assert (await c.subscribe(channel))["type"] == "subscribed"

        redis_of_our_own.stop()
        titles = [f"while-down-{i}" for i in range(3)]
        async with httpx.AsyncClient(base_url=b.base, timeout=10) as http:
            r = await http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/memberships/{banned_id}/ban",
                                headers={**w.staff, **JSONAPI},
                                json={"data": {"type": "membership_actions", "attributes": {"reason": "spam"}}})
            assert r.status_code == 200, r.text
            for title in titles:
                r = await http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/announcements",
                                    headers={**w.staff, **JSONAPI},
                                    json={"data": {"type": "announcements", "attributes": {"title": title, "body": "x"}}})
                assert r.status_code == 201, r.text
            # REST already refuses the banned member
            r = await http.get(f"/api/v1/hub/{w.hub_id}/presence", headers={"Authorization": f"Bearer {banned_token}"})
            assert r.status_code == 403 and r.json()["errors"][0]["code"] == "banned", r.text
            # REST keeps working; what needs Redis degrades as documented (docs/deploy.md):
            r = await http.get(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/memberships", headers=w.staff)
            assert r.status_code == 200, r.text
            # rate-limited routes (login) and presence answer 503 with Retry-After
            r = await http.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
            assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
            assert r.json()["errors"][0]["code"] == "service_unavailable"
            r = await http.get(f"/api/v1/hub/{w.hub_id}/presence", headers={"Authorization": f"Bearer {token_b}"})
            assert r.status_code == 503, r.text
            r = await http.get("/ready")
            assert r.status_code == 503 and r.json()["checks"] == {"database": "ok", "redis": "unavailable"}, r.text
        # an open socket lives on (ping answered); a new one connects, but subscribing waits for Redis
        await on_b.send(op="ping")
        await on_b.until(lambda f: f["type"] == "pong")
        _, token_new = w.add_member()
        newcomer = await Client.connect(b, hub_ws(w), token_new)
        refused = await newcomer.subscribe(channel)
        assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
        await asyncio.sleep(1.0)  # the instances notice the outage (and the victim's socket stays open)
        assert victim.close_code is None

        redis_of_our_own.start()
        back = time.monotonic()
        assert await victim.closed(15) == 4403
        recovery("ban while Redis was down -> 4403 after Redis is back", time.monotonic() - back)
        assert {"type": "error", "code": "banned", "message": "You are banned from this hub."} in victim.frames
        for name, c in (("A", on_a), ("B", on_b)):
            await c.until(lambda f: f["type"] == "event" and f["data"]["title"] == titles[-1], 15)
            recovery(f"announcements posted while Redis was down -> delivered on {name}", time.monotonic() - back)
            notice = [f for f in c.frames if f["type"] == "subscribed" and f.get("recovered") is False]
            assert notice, c.frames
            got = events(c)
            assert [e["data"]["title"] for e in got] == titles, got  # each once, in the order posted
            assert c.frames.index(notice[-1]) < c.frames.index(got[0])
            assert [e["seq"] for e in got] == list(range(notice[-1]["seq"] + 1, notice[-1]["seq"] + 1 + len(got)))
        # the newcomer subscribes now; rate-limited routes and presence are back
        while (await newcomer.subscribe(channel))["type"] != "subscribed":
            assert time.monotonic() - back < 15
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=b.base, timeout=10) as http:
            r = await http.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
            assert r.status_code == 401, r.text
            await on_b.send(op="ping")  # presence is refreshed by a ping (or the heartbeat)
            await on_b.until(lambda f: f["type"] == "pong")
            r = await http.get(f"/api/v1/hub/{w.hub_id}/presence", headers={"Authorization": f"Bearer {token_b}"})
            assert r.status_code == 200 and r.json()["data"]["attributes"]["count"] >= 1, r.text
        recovery("rate limits, presence and subscribing back", time.monotonic() - back)
        # and live events flow again
        async with httpx.AsyncClient(base_url=a.base, timeout=10) as http:
            r = await http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/announcements",
                                headers={**w.staff, **JSONAPI},
                                json={"data": {"type": "announcements", "attributes": {"title": "live", "body": "x"}}})
            assert r.status_code == 201, r.text
        for c in (on_a, on_b, newcomer):
            await c.until(lambda f: f["type"] == "event" and f["data"]["title"] == "live")
            await c.close()
    finally:
        for srv in servers:
            if srv.proc.poll() is None:
                srv.stop()
    for srv in servers:
        log = srv.log_path.read_text()
        assert "Traceback" not in log and "after-commit callback failed" not in log, log
