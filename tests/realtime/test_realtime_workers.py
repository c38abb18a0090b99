"""`hubwire serve --workers N` (server/cli.py): the workers are separate processes sharing one
listening socket, so realtime, presence and limits must hold across them — they share them
through Redis (a redis-server of our own here, so this runs on both passes). Without Redis,
more than one worker is refused (each would keep its own events, presence and limits)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import unique_email
from tests.support.faults import OwnRedis
from tests.support.realtime import JSONAPI, Client, make_world, start_server, stop_server
from tests.support.servers import ServerProcess, free_port, hubwire_command


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path / "redis.log")
    r.start()
    try:
        yield r
    finally:
        r.stop()


def workers_of(main_pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing's spawned children; not its resource tracker)."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{main_pid}/task"):
        with open(f"/proc/{main_pid}/task/{task}/children") as f:
            for pid in map(int, f.read().split()):
                with open(f"/proc/{pid}/cmdline", "rb") as c:
                    if b"spawn_main" in c.read():
                        out.append(pid)
    return out


def established_on(pid: int, port: int) -> int:
    """How many TCP connections to ``port`` process ``pid`` holds (its fds matched in /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            local_port = int(cols[1].split(":")[1], 16)
            if local_port == port and cols[3] == "01" and cols[9] in inodes:
                count += 1
    return count


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(tmp_path / "data"), HUBWIRE_DATABASE_URL=database_url)
    r = subprocess.run([*hubwire_command(), "serve", "--port", str(free_port()), "--workers", "2"], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--workers above 1 needs HUBWIRE_REDIS_URL" in r.stderr


async def test_workers_share_events_presence_and_limits(own_redis: OwnRedis, tmp_path: Path, servers_database_url: str,
                                                        redis_prefix: str) -> None:
    srv: ServerProcess = start_server(tmp_path, servers_database_url, redis_prefix, "workers", args=("--workers", "2"),
                                      HUBWIRE_REDIS_URL=own_redis.url, HUBWIRE_RT_MAX_SOCKETS="3")
    clients: list[Client] = []
    try:
        w = make_world(srv.base)
        channel = f"hub:{w.hub_id}"
        path = f"/api/v1/hub/{w.hub_id}/ws"
        workers = workers_of(srv.proc.pid)
        assert len(workers) == 2, workers
        # members' sockets until both workers hold some (the kernel hands each new connection to
        # whichever worker accepts it first)
        tokens = []
        for _ in range(40):
            _, token = w.add_member()
            tokens.append(token)
            c = await Client.connect(srv, path, token)
            clients.append(c)
            assert (await c.subscribe(channel))["type"] == "subscribed"
            held = {pid: established_on(pid, srv.port) for pid in workers}
            if len(clients) >= 4 and all(held.values()):
                break
        assert all(held.values()), f"every socket landed on one worker: {held}"
        print(f"WORKERS sockets per worker: {held}")
        # events posted through any worker reach every socket on every worker, once, in order
        for i in range(5):
            w.announce(f"w{i}")
        for c in clients:
            await c.until(lambda f: f["type"] == "event" and f["data"]["title"] == "w4", 10)
            got = [f["data"]["title"] for f in c.frames if f["type"] == "event"]
            assert got == [f"w{i}" for i in range(5)]
        # presence counts each member once, whichever worker answers
        for _ in range(3):
            with httpx.Client(base_url=srv.base, timeout=10) as http:  # a new connection each time
                r = http.get(f"/api/v1/hub/{w.hub_id}/presence", headers={"Authorization": f"Bearer {tokens[0]}"})
                assert r.status_code == 200 and r.json()["data"]["attributes"]["count"] == len(clients), r.text
        # a member's socket limit counts their sockets on both workers
        extra = []
        for _ in range(2):
            c = await Client.connect(srv, path, tokens[0])
            extra.append(c)
            assert (await c.subscribe(channel))["type"] == "subscribed"
        over = await Client.connect(srv, path, tokens[0])
        assert await over.closed(10) == 4029
        clients += extra
        # a REST rate limit (posting: 5 per minute per member in a space) holds across workers
        with httpx.Client(base_url=srv.base, timeout=10) as http:
            r = http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/spaces", headers={**w.staff, **JSONAPI},
                          json={"data": {"type": "spaces", "attributes": {"name": "Lounge"}}})
            assert r.status_code == 201, r.text
            space = r.json()["data"]["id"]
        codes = []
        for i in range(6):
            with httpx.Client(base_url=srv.base, timeout=10) as http:  # new connections: any worker
                r = http.post(f"/api/v1/hub/{w.hub_id}/spaces/{space}/discussions",
                              headers={"Authorization": f"Bearer {tokens[1]}", **JSONAPI},
                              json={"data": {"type": "discussions", "attributes": {"title": f"t{i} {unique_email()}",
                                                                                  "body": "x"}}})
                codes.append(r.status_code)
        assert codes == [201] * 5 + [429], codes
        for c in clients:
            await c.close()
    finally:
        stop_server(srv)
