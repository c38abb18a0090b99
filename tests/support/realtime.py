"""Shared pieces of the realtime end-to-end tests: real `hubwire serve` processes (two sharing the
test database and Redis when HUBWIRE_TEST_REDIS_URL is set, one otherwise), a staff user with a hub
and members, and a small socket client that polls with timeouts (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.api import PASSWORD, unique_email
from tests.support.backends import REDIS_URL
from tests.support.servers import ServerProcess, free_port

JSONAPI = {"Content-Type": "application/vnd.api+json"}
RT_ENV = {
    # typing and presence are not shed because a loaded test machine made the loop late (the
    # shedding itself: tests/realtime/test_realtime_overload.py)
    "HUBWIRE_RT_SHED_SIGNALS_AFTER": "60",
    "HUBWIRE_RT_AUTH_TIMEOUT": "0.5",
    "HUBWIRE_RT_SEND_QUEUE": "64",
    "HUBWIRE_RT_MAX_SOCKETS": "3",
}


def start_server(tmp: Path, database_url: str, redis_prefix: str, name: str, *, port: int | None = None,
                 args: tuple[str, ...] = (), **extra: str) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(
        HUBWIRE_DATA_DIR=str(tmp / "data"),
        HUBWIRE_DATABASE_URL=database_url,
        HUBWIRE_PASSWORD_HASHING="fast",
        HUBWIRE_REDIS_PREFIX=redis_prefix,
        HUBWIRE_LOG_LEVEL="WARNING",
        HUBWIRE_SECRET_KEY="realtime-test-secret-" + "y" * 40,  # both instances must agree
        # every test talks from 127.0.0.1: the REST limits are tested on their own (tests/ops)
        HUBWIRE_RATE_LIMIT_PER_IP="1000000", HUBWIRE_RATE_LIMIT_PER_KEY="1000000",
        **RT_ENV,
    )
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    env.update(extra)  # may point an instance at another Redis (HUBWIRE_REDIS_URL) or tune limits
    srv = ServerProcess(env, port or free_port(), tmp / f"{name}.log", *args)
    try:
        srv.wait_ready()
    except BaseException:
        srv.stop()  # a server that never answered must not outlive the test (it may hold the database)
        raise
    return srv


def stop_server(srv: ServerProcess) -> str:
    code = srv.stop()
    log = srv.log_path.read_text()
    assert code in (0, -signal.SIGTERM), f"server did not shut down cleanly ({code}):\n{log}"
    assert "Traceback" not in log and "ERROR" not in log, log
    return log


@dataclass
class Cluster:
    """Instance A, and B: a second process on Redis, else A again (the embedded default)."""

    a: ServerProcess
    b: ServerProcess

    @property
    def two(self) -> bool:
        return self.a is not self.b


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, servers_database_url: str,
            redis_prefix: str) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("rt")
    a = start_server(tmp, servers_database_url, redis_prefix, "a")
    b = start_server(tmp, servers_database_url, redis_prefix, "b") if REDIS_URL else a
    try:
        yield Cluster(a, b)
    finally:
        stop_server(a)
        if b is not a:
            stop_server(b)


# ---- setup over HTTP ----------------------------------------------------------------------------------


@dataclass
class World:
    base: str
    staff_token: str
    team_id: str
    hub_id: str
    members: dict[str, str] = field(default_factory=dict)  # contact_id -> member token

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10.0)

    @property
    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff_token}"}

    def add_member(self) -> tuple[str, str]:
        with self.http() as http:
            r = http.post(f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}/memberships", headers={**self.staff, **JSONAPI},
                          json={"data": {"type": "hub_memberships", "attributes": {"email": unique_email("rt")}}})
            assert r.status_code == 201, r.text
            contact_id = r.json()["data"]["attributes"]["contact_id"]
            r = http.post(f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}/member-tokens", headers={**self.staff, **JSONAPI},
                          json={"data": {"type": "member_tokens", "attributes": {"contact_id": contact_id}}})
            assert r.status_code == 201, r.text
            token = r.json()["data"]["attributes"]["access_token"]
        self.members[contact_id] = token
        return contact_id, token

    def announce(self, title: str, body: str = "hello") -> dict[str, Any]:
        with self.http() as http:
            r = http.post(f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}/announcements", headers={**self.staff, **JSONAPI},
                          json={"data": {"type": "announcements", "attributes": {"title": title, "body": body}}})
            assert r.status_code == 201, r.text
            return dict(r.json()["data"])

    def moderate(self, contact_id: str, action: str) -> None:
        with self.http() as http:
            r = http.post(f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}/memberships/{contact_id}/{action}",
                          headers={**self.staff, **JSONAPI},
                          json={"data": {"type": "membership_actions", "attributes": {"reason": "test"}}})
            assert r.status_code == 200, r.text

    def api_key(self, scopes: list[str]) -> str:
        with self.http() as http:
            r = http.post(f"/api/v1/teams/{self.team_id}/api-keys", headers=self.staff,
                          json={"name": "dash", "scopes": scopes})
            assert r.status_code == 201, r.text
            return str(r.json()["secret"])


def make_world(base: str) -> World:
    with httpx.Client(base_url=base, timeout=10.0) as http:
        r = http.post("/api/v1/auth/register", json={"email": unique_email("rtstaff"), "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        team_id = http.get("/api/v1/teams", headers=staff).json()["data"][0]["id"]
        r = http.post(f"/api/v1/teams/{team_id}/hubs", headers={**staff, **JSONAPI},
                      json={"data": {"type": "hubs", "attributes": {"name": f"Hub {uuid.uuid4().hex[:6]}"}}})
        assert r.status_code == 201, r.text
        return World(base, token, team_id, r.json()["data"]["id"])


# ---- a socket client -------------------------------------------------------------------------------------


def ws_url(srv: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


class Client:
    """A websockets client that keeps every frame it received, for polling assertions."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, srv: ServerProcess, path: str, token: str | None = None, *,
                      first_frame_token: str | None = None, **kw: Any) -> Client:
        protocols = ["hubwire.v1", f"bearer.{token}"] if token else ["hubwire.v1"]
        ws = await websockets.connect(ws_url(srv, path), subprotocols=protocols, open_timeout=5, **kw)  # type: ignore[arg-type]
        c = cls(ws)
        if first_frame_token is not None:
            await c.send(op="auth", token=first_frame_token)
        return c

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame = json.loads(raw)
        self.frames.append(frame)
        return dict(frame)

    async def until(self, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame matching ``pred`` (earlier ones are kept in ``frames``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame in {timeout}s; got {self.frames[-10:]}")
            frame = await self.next(left)
            if pred(frame):
                return frame

    async def subscribe(self, channel: str, **extra: Any) -> dict[str, Any]:
        await self.send(op="subscribe", channel=channel, **extra)
        return await self.until(lambda f: f.get("channel") == channel and f["type"] in ("subscribed", "error"))

    async def event(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.until(lambda f: f["type"] == "event" and f["event"] == name, timeout)

    async def read_for(self, seconds: float) -> list[dict[str, Any]]:
        """Read every frame that arrives within ``seconds`` (kept in ``frames`` too): to assert
        that something did NOT arrive, read for the interval first, then look."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.next(left))
            except (asyncio.TimeoutError, TimeoutError):
                break
        return got

    async def closed(self, timeout: float = 5.0) -> int:
        """Read until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                await self.next(deadline - time.monotonic())
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
            return int(self.close_code or 0)
        raise AssertionError(f"socket still open after {timeout}s; got {self.frames[-10:]}")

    async def close(self) -> None:
        await self.ws.close()


async def wait_for(pred: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await pred() if asyncio.iscoroutinefunction(pred) else pred()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s")
