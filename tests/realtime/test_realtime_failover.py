"""Instances lost under steady load, through the whole app (issue 13, "Health under faults").

Three `hubwire serve` instances on the run's database and a redis-server of our own (so this runs
on both passes of the suite: on the SQLite pass the instances share one SQLite file). Members hold
sockets on two of them while staff post announcements through the third, steadily. One victim is
killed with SIGKILL mid-stream, the other drained with SIGTERM; every client reconnects to the
survivor with its last ``seq`` and ``epoch`` and must end with every event exactly once, in order.
Recovery times (loss → resumed on the survivor) are printed as ``RECOVERY`` lines.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.faults import OwnRedis
from tests.support.realtime import JSONAPI, Client, World, make_world, start_server
from tests.support.servers import ServerProcess

CLIENTS_PER_VICTIM = 6
EVENTS = 80
INTERVAL = 0.03  # ~20-30 announcements a second through the survivor (each POST takes a few ms)
ENV = {"HUBWIRE_RT_MAX_SOCKETS": "5"}


@pytest.fixture
def redis_of_our_own(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path / "redis.log")
    r.start()
    try:
        yield r
    finally:
        r.stop()


class Follower:
    """A member's client: subscribed on a victim, then resumed on the survivor once cut off."""

    def __init__(self, token: str, channel: str) -> None:
        self.token, self.channel = token, channel
        self.events: list[dict[str, Any]] = []
        self.first_seq = 0
        self.epoch = ""
        self.cut_at: float | None = None
        self.resumed_at: float | None = None
        self.close_code: int | None = None

    async def run(self, victim: ServerProcess, survivor: ServerProcess, path: str, last_title: str) -> None:
        c = await Client.connect(victim, path, self.token)
        sub = await c.subscribe(self.channel)
        assert sub["type"] == "subscribed", sub
        self.first_seq, self.epoch = sub["seq"], sub["epoch"]
        try:
            while True:
                f = await c.next(30)
                if f["type"] == "event":
                    self.events.append(f)
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        self.cut_at = time.monotonic()
        since = self.events[-1]["seq"] if self.events else self.first_seq
        c2 = await Client.connect(survivor, path, self.token)
        resumed = await c2.subscribe(self.channel, since=since, epoch=self.epoch)
        assert resumed["type"] == "subscribed" and resumed["recovered"] is True, resumed
        self.resumed_at = time.monotonic()
        while not (self.events and self.events[-1]["data"]["title"] == last_title):
            f = await c2.next(30)
            if f["type"] == "event":
                self.events.append(f)
        await c2.close()


async def test_sigkill_and_sigterm_under_load_clients_resume_with_nothing_lost(
        redis_of_our_own: OwnRedis, tmp_path: Path, own_database_url: str, redis_prefix: str) -> None:
    env = {"HUBWIRE_REDIS_URL": redis_of_our_own.url, **ENV}
    servers: list[ServerProcess] = []
    try:
        for name in ("survivor", "killed", "drained"):
            servers.append(start_server(tmp_path, own_database_url, redis_prefix, name, **env))
        survivor, killed, drained = servers
        w: World = make_world(survivor.base)
        channel = f"hub:{w.hub_id}"
        path = f"/api/v1/hub/{w.hub_id}/ws"
        titles = [f"load-{i:03d}" for i in range(EVENTS)]
        followers = {"killed": [], "drained": []}  # type: dict[str, list[Follower]]
        tasks = []
        for name, victim in (("killed", killed), ("drained", drained)):
            for _ in range(CLIENTS_PER_VICTIM):
                f = Follower(w.add_member()[1], channel)
                followers[name].append(f)
                tasks.append(asyncio.create_task(f.run(victim, survivor, path, titles[-1])))
        everyone = followers["killed"] + followers["drained"]
        while any(f.epoch == "" for f in everyone):  # all subscribed before the load starts
            await asyncio.sleep(0.02)
            for t in tasks:
                if t.done():
                    t.result()

        posted = 0
        lost_at: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=survivor.base, timeout=10) as http:
            for i, title in enumerate(titles):
                r = await http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/announcements",
                                    headers={**w.staff, **JSONAPI},
                                    json={"data": {"type": "announcements", "attributes": {"title": title, "body": "x"}}})
                assert r.status_code == 201, r.text
                posted += 1
                if i == EVENTS // 4:
                    killed.proc.send_signal(signal.SIGKILL)
                    lost_at["killed"] = time.monotonic()
                elif i == EVENTS // 2:
                    drained.proc.send_signal(signal.SIGTERM)
                    lost_at["drained"] = time.monotonic()
                await asyncio.sleep(INTERVAL)
        await asyncio.wait_for(asyncio.gather(*tasks), 45)

        assert killed.proc.wait(10) == -signal.SIGKILL
        assert drained.proc.wait(15) in (0, -signal.SIGTERM)
        for name, group in followers.items():
            for f in group:
                assert [e["data"]["title"] for e in f.events] == titles, name  # every event once, in order
                assert [e["seq"] for e in f.events] == list(range(f.first_seq + 1, f.first_seq + 1 + EVENTS))
                if name == "drained":
                    assert f.close_code == 1012
            slowest = max(f.resumed_at for f in group if f.resumed_at) - lost_at[name]
            print(f"\nRECOVERY [{name}] instance lost -> all {len(group)} clients resumed on the survivor: "
                  f"{slowest * 1000:.0f} ms (events posted meanwhile kept flowing)", flush=True)
    finally:
        for srv in servers:
            if srv.proc.poll() is None:
                srv.stop()
            else:
                srv._log.close()
    log = servers[0].log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log
