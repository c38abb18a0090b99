"""PostgreSQL stopped and started under a live `hubwire serve` (issue 13, "Health under faults").

The instance runs on a PostgreSQL cluster of our own (``tests/support/faults.py``: initdb + pg_ctl
on a free port, as the postgres user), never the shared one the suite uses, so this test runs in
both passes of the suite (on the SQLite pass too: only the app's database is this cluster; the
broker is whatever the pass uses). While the database is down:

* ``/ready`` answers 503 naming the database; ``/health`` stays 200;
* requests answer 503 ``service_unavailable`` with ``Retry-After`` within a bounded time — never a
  500, never a hang — and the log has one line per request, no traceback;
* a new WebSocket gets ``error service_unavailable`` and close 1013; an open one stays open;
* nothing is half written: every contact answered 201 exists, none answered 503 does.

Then the database comes back and everything recovers by itself (the time is printed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.faults import OwnPostgres
from tests.support.realtime import JSONAPI, Client, make_world, start_server


def recovery(label: str, seconds: float) -> None:
    print(f"\nRECOVERY {label}: {seconds * 1000:.0f} ms", flush=True)


@pytest.fixture
def postgres_of_our_own() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


async def create_contact(http: httpx.AsyncClient, team_id: str, staff: dict[str, str], email: str) -> httpx.Response:
    return await http.post(f"/api/v1/teams/{team_id}/contacts", headers={**staff, **JSONAPI},
                           json={"data": {"type": "team_contacts", "attributes": {"email": email}}})


async def test_postgres_stopped_and_started_under_a_live_server(postgres_of_our_own: OwnPostgres, tmp_path: Path,
                                                              redis_prefix: str) -> None:
    pg = postgres_of_our_own
    srv = start_server(tmp_path, pg.url, redis_prefix, "pg-fault")
    try:
        w = make_world(srv.base)
        _, token = w.add_member()
        live = await Client.connect(srv, f"/api/v1/hub/{w.hub_id}/ws", token)
        assert (await live.subscribe(f"hub:{w.hub_id}"))["type"] == "subscribed"
        answered: dict[str, int] = {}
        async with httpx.AsyncClient(base_url=srv.base, timeout=30) as http:
            for i in range(3):
                email = f"before{i}-{uuid.uuid4().hex[:6]}@example.com"
                answered[email] = (await create_contact(http, w.team_id, w.staff, email)).status_code

            # Writes in flight while the database stops: each ends 201 or 503, nothing in between.
            async def writer(n: int) -> None:
                for i in range(n):
                    email = f"during{i}-{uuid.uuid4().hex[:6]}@example.com"
                    r = await create_contact(http, w.team_id, w.staff, email)
                    answered[email] = r.status_code
                    await asyncio.sleep(0.01)

            burst = asyncio.create_task(writer(20))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(pg.stop)
            await burst
            stopped = time.monotonic()

            r = await http.get("/ready")
            assert r.status_code == 503 and r.json()["checks"]["database"] == "unavailable", r.text
            assert (await http.get("/health")).status_code == 200
            for attempt in range(3):  # a write, a read, a member read: 503, quickly, never 500
                started = time.monotonic()
                if attempt == 0:
                    email = f"down-{uuid.uuid4().hex[:6]}@example.com"
                    r = await create_contact(http, w.team_id, w.staff, email)
                    answered[email] = r.status_code
                elif attempt == 1:
                    r = await http.get(f"/api/v1/teams/{w.team_id}/contacts", headers=w.staff)
                else:
                    r = await http.get(f"/api/v1/hub/{w.hub_id}/me", headers={"Authorization": f"Bearer {token}"})
                took = time.monotonic() - started
                print(f"\nDOWN answer {r.status_code} in {took * 1000:.0f} ms", flush=True)
                assert r.status_code == 503, r.text
                assert took < 12  # the engine's connect and pool timeouts bound it
                assert r.headers["Retry-After"] == "5"
                err = r.json()["errors"][0]
                assert err["code"] == "service_unavailable" and err["status"] == "503"
                assert r.headers["content-type"].startswith("application/vnd.api+json")
            assert all(code in (201, 503) for code in answered.values()), answered
            # a new socket is told to come back later; the open one lives on
            refused = await Client.connect(srv, f"/api/v1/hub/{w.hub_id}/ws", token)
            assert await refused.closed(12) == 1013
            assert refused.frames[-1]["code"] == "service_unavailable"
            await live.send(op="ping")
            await live.until(lambda f: f["type"] == "pong")

            await asyncio.to_thread(pg.start)
            back = time.monotonic()
            while (await http.get("/ready")).status_code != 200:
                assert time.monotonic() - back < 20, "not ready again 20 s after the database came back"
                await asyncio.sleep(0.05)
            recovery("/ready 200 after PostgreSQL started", time.monotonic() - back)
            email = f"after-{uuid.uuid4().hex[:6]}@example.com"
            r = await create_contact(http, w.team_id, w.staff, email)
            assert r.status_code == 201, r.text
            answered[email] = 201
            recovery("first write after PostgreSQL started", time.monotonic() - back)
            print(f"\nDOWNTIME {back - stopped:.1f} s; answers {sorted(answered.values())}", flush=True)

            # No partial writes: exactly the contacts answered 201 exist.
            listed: set[str] = set()
            url: str | None = f"/api/v1/teams/{w.team_id}/contacts?page[size]=100"
            while url:
                r = await http.get(url, headers=w.staff)
                assert r.status_code == 200, r.text
                listed |= {c["attributes"]["email"] for c in r.json()["data"]}
                url = r.json().get("links", {}).get("next")
            mine = {e for e in listed if e in answered}
            assert mine == {e for e, code in answered.items() if code == 201}
            # sockets connect again, and the open one still gets events
            again = await Client.connect(srv, f"/api/v1/hub/{w.hub_id}/ws", token)
            assert (await again.subscribe(f"hub:{w.hub_id}"))["type"] == "subscribed"
            w.announce("after the outage")
            for c in (live, again):
                await c.until(lambda f: f["type"] == "event" and f["data"]["title"] == "after the outage")
                await c.close()
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert "Traceback" not in log and "internal_error" not in log, log
    assert log.count("database unavailable on") >= 3, log
