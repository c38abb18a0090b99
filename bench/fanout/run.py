"""Realtime fan-out benchmark: Hubwire's gateway against a bare Litestar + Redis pub/sub baseline.

    .venv/bin/python bench/fanout/run.py [--quick] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                         [--redis-url redis://127.0.0.1:6379/0] [--duration 10] [--runs 3]

Starts everything itself, on 127.0.0.1 only, and stops it at the end (also on error):
- a throwaway PostgreSQL database ``hubwire_bench_<hex>`` (dropped at the end) and a Redis key
  prefix of its own (its keys deleted at the end);
- two ``hubwire serve`` instances sharing both (subscribers spread evenly over them), and two
  instances of ``bench/fanout/baseline_app.py`` (one WebSocket route forwarding a Redis pub/sub
  channel to its sockets: no auth, no seq/history), with the same uvicorn settings;
- a Node.js ``ws`` load client (``bench/fanout/client.mjs``; ``npm install`` runs if needed);
- with ``--channels``, two instances of Litestar's ChannelsPlugin stack (``baseline_app.py
  --channels``); with ``--node``, two Node.js ``ws`` servers fed by Redis pub/sub
  (``bench/fanout/node_server.mjs``, the bare baseline's job in Node).

Messages are published at a fixed rate: for Hubwire through ``RealtimePublisher`` with the
instances' Redis prefix (the Lua script assigns seq/epoch, stores history and PUBLISHes, exactly
as in production), for the baseline with a plain Redis PUBLISH of a frame of the same size. Every
message carries its send time; the client records delivery latency. Hubwire subscribers are
members authenticated by token in ``Sec-WebSocket-Protocol`` whose ``subscribe`` is access-checked.

Reported: deliveries/s, p50/p99 latency, server CPU time per delivery (user+system of the server
processes over the publishing window, from /proc/<pid>/stat), median of ``--runs`` runs, with
Hubwire/baseline ratios; RSS per idle connection at 1,000 and 5,000 sockets; and a row where
discussions are posted through the real REST route (persisted, access-checked, published after
commit) and delivered to 500 subscribers. Not part of the test suite; never run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

import httpx
import msgspec
import redis.asyncio as aredis

from realtime.history import RealtimePublisher, RedisHistory

DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
JSONAPI = {"Content-Type": "application/vnd.api+json"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
N_MEMBERS = 20  # subscribers share these member tokens (presence counts each member once)
BODY = "x" * 120  # announcement body padding: a realistic small event

PROCS: list[subprocess.Popen[bytes]] = []
NODE_PIDS: list[int] = []  # load clients (asyncio subprocesses), killed by pid at the end


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536, hard))


def spawn(cmd: list[str], env: dict[str, str], logfile: Path, **kw: Any) -> subprocess.Popen[bytes]:
    out = open(logfile, "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=kw.pop("stdout", out), stderr=out, preexec_fn=_raise_nofile,  # noqa: PLW1509  (no threads yet)
                            start_new_session=True, **kw)
    PROCS.append(proc)
    return proc


def stop_all() -> None:
    for pid in NODE_PIDS:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    NODE_PIDS.clear()
    for proc in PROCS:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 12
    for proc in PROCS:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    PROCS.clear()


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_bytes(pids: list[int]) -> int:
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE for pid in pids)


def wait_http(base: str, path: str, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base} exited early:\n{logfile.read_text()[-3000:]}")
        try:
            httpx.get(base + path, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not answer in {timeout}s:\n{logfile.read_text()[-3000:]}")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HUBWIRE_", "BENCH_"))}


def hubwire_env(env: dict[str, str], logdir: Path, db_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of the bench's ``hubwire serve`` instances."""
    return dict(env, HUBWIRE_DATA_DIR=str(logdir / "data"), HUBWIRE_DATABASE_URL=db_url,
                HUBWIRE_REDIS_URL=redis_url, HUBWIRE_REDIS_PREFIX=prefix, HUBWIRE_PASSWORD_HASHING="fast",
                HUBWIRE_LOG_LEVEL="WARNING", HUBWIRE_SECRET_KEY="bench-fanout-secret-" + "z" * 40,
                HUBWIRE_ACCESS_TOKEN_TTL="7200",
                HUBWIRE_RT_MAX_SOCKETS="100000",  # subscribers share 20 member tokens
                HUBWIRE_RT_OPS_PER_SECOND="1000",
                HUBWIRE_RATE_LIMIT_PER_KEY="0", HUBWIRE_RATE_LIMIT_PER_IP="0",  # the server, not its limits
                # this checkout's code: the venv's `hubwire` script imports the package the venv
                # was installed from (an editable install of another checkout, say) otherwise
                PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))


def hubwire_command() -> list[str]:
    cmd = [str(Path(sys.executable).parent / "hubwire")]
    return cmd if Path(cmd[0]).exists() else [sys.executable, "-m", "server.cli"]


# ---- database and Redis -----------------------------------------------------------------------------


async def create_database(server_url: str) -> tuple[str, str]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"hubwire_bench_{secrets.token_hex(4)}"
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return name, server_url.rsplit("/", 1)[0] + "/" + name


async def drop_database(server_url: str, name: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def clear_prefix(redis_url: str, prefix: str) -> None:
    r = aredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 500):
            await r.delete(*keys[i:i + 500])
    finally:
        await r.aclose()


# ---- the world: staff, team, hub, space, members -----------------------------------------------------


def doc(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attrs}}


class World:
    def __init__(self, base: str) -> None:
        http = httpx.Client(base_url=base, timeout=30.0)
        r = http.post("/api/v1/auth/register", json={"email": f"bench-{uuid.uuid4().hex[:10]}@example.test",
                                                      "password": "bench-password-" + secrets.token_hex(8)})
        assert r.status_code == 201, r.text
        self.staff = {"Authorization": f"Bearer {r.json()['access_token']}", **JSONAPI}
        self.team_id = http.get("/api/v1/teams", headers=self.staff).json()["data"][0]["id"]
        t = f"/api/v1/teams/{self.team_id}"
        r = http.post(f"{t}/hubs", headers=self.staff, json=doc("hubs", {"name": "Bench hub"}))
        assert r.status_code == 201, r.text
        self.hub_id = r.json()["data"]["id"]
        self.t = f"{t}/hubs/{self.hub_id}"
        r = http.post(f"{self.t}/spaces", headers=self.staff, json=doc("spaces", {"name": "Lounge"}))
        assert r.status_code == 201, r.text
        self.space_id = r.json()["data"]["id"]
        self.tokens = [self._member(http, "member") for _ in range(N_MEMBERS)]
        self.moderator_token = self._member(http, "moderator")
        http.close()

    def add_hub(self, http: httpx.Client, name: str, members: int) -> tuple[str, list[str]]:
        """Another hub of the same team with ``members`` member tokens: (hub id, tokens)."""
        r = http.post(f"/api/v1/teams/{self.team_id}/hubs", headers=self.staff, json=doc("hubs", {"name": name}))
        assert r.status_code == 201, r.text
        hub_id = r.json()["data"]["id"]
        t = f"/api/v1/teams/{self.team_id}/hubs/{hub_id}"
        return hub_id, [self._member(http, "member", t) for _ in range(members)]

    def _member(self, http: httpx.Client, role: str, t: str | None = None) -> str:
        t = t or self.t
        r = http.post(f"{t}/memberships", headers=self.staff,
                      json=doc("hub_memberships", {"email": f"m-{uuid.uuid4().hex[:12]}@example.test", "role": role}))
        assert r.status_code == 201, r.text
        contact_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"{t}/member-tokens", headers=self.staff, json=doc("member_tokens", {"contact_id": contact_id}))
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["attributes"]["access_token"])


# ---- the load client -------------------------------------------------------------------------------------


class LoadClient:
    """One client.mjs process holding ``n`` subscribers of one system."""

    def __init__(self, proc: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.proc, self.ready = proc, ready

    @classmethod
    async def start(cls, cfg: dict[str, Any], logfile: Path, timeout: float = 300) -> LoadClient:
        proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "client.mjs"), json.dumps(cfg), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=open(logfile, "ab"),  # noqa: SIM115, ASYNC230
            preexec_fn=_raise_nofile, start_new_session=True)
        NODE_PIDS.append(proc.pid)
        client = cls(proc, {})
        client.ready = await client._line(timeout)
        if client.ready["ready"] != cfg["n"]:
            log(f"  warning: {client.ready['failed']} of {cfg['n']} subscribers failed to open (see {logfile})")
        return client

    async def _line(self, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("load client exited")
        return dict(json.loads(line))

    async def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def report(self, t0: float, t1: float) -> dict[str, Any]:
        await self.command(f"report {t0 * 1000:.3f} {t1 * 1000:.3f}")
        return await self._line()

    async def quit(self) -> None:
        try:
            await self.command("quit")
            await asyncio.wait_for(self.proc.wait(), 10)
        except Exception:  # noqa: BLE001  (whatever went wrong, the client must go)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        if self.proc.pid in NODE_PIDS:
            NODE_PIDS.remove(self.proc.pid)


# ---- publishers --------------------------------------------------------------------------------------------


def _iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class System:
    """Either Hubwire or the baseline: its server pids, socket URLs, how to subscribe and publish."""

    def __init__(self, name: str, pids: list[int], urls: list[str], protocols: list[list[str]] | None,
                 subscribe: dict[str, Any] | None, publish: Any) -> None:
        self.name, self.pids, self.urls, self.protocols, self.subscribe, self.publish = (
            name, pids, urls, protocols, subscribe, publish)

    def client_cfg(self, n: int, deflate: bool, channel: str | None = None) -> dict[str, Any]:
        sub = dict(self.subscribe) if self.subscribe else None
        if sub is not None and channel is not None:
            sub["channel"] = channel
        return {"urls": self.urls, "n": n, "protocols": self.protocols, "subscribe": sub, "concurrency": 16,
                "deflate": deflate, "lifetime": 1500}


def announcement(enc: msgspec.json.Encoder, hub_id: str, i: int) -> bytes:
    """The payload the app publishes for an announcement on ``hub:{hub_id}``, stamped with its send time."""
    at = _iso()
    return enc.encode({"channel": f"hub:{hub_id}", "event": "announcement.created", "data": {
        "id": str(uuid.uuid4()), "hub_id": hub_id, "title": f"Bench {i}",
        "body": f"{BODY} sent={time.time():.6f}", "created_at": at}, "at": at})


def hubwire_publisher(redis: Any, prefix: str, hub_id: str) -> Any:
    history = RedisHistory(redis, prefix)
    publisher = RealtimePublisher(None, history, pubsub_prefix=prefix + "ch:")  # as build_gateway does
    channel = f"hub:{hub_id}"
    enc = msgspec.json.Encoder()

    async def publish(i: int) -> None:
        await publisher.publish(channel, announcement(enc, hub_id, i))

    return publish


def baseline_publisher(redis: Any, pubsub_channel: str, hub_id: str) -> Any:
    channel = f"hub:{hub_id}"
    enc = msgspec.json.Encoder()

    async def publish(i: int) -> None:  # the same frame Hubwire sends, seq included, by plain PUBLISH
        at = _iso()
        frame = enc.encode({"type": "event", "channel": channel, "seq": i + 1, "event": "announcement.created",
                            "data": {"id": str(uuid.uuid4()), "hub_id": hub_id, "title": f"Bench {i}",
                                     "body": f"{BODY} sent={time.time():.6f}", "created_at": at}, "at": at})
        await redis.publish(pubsub_channel, frame)

    return publish


async def paced(publish: Any, rate: float, duration: float) -> tuple[int, float, float]:
    """Call ``publish(i)`` ``rate`` times a second for ``duration`` s on a fixed schedule: (calls, t0, t1)."""
    n = int(rate * duration)
    t0 = time.time()
    start = time.monotonic()
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish(i)
    return n, t0, time.time()


# ---- measurements ------------------------------------------------------------------------------------------


async def one_run(system: System, client: LoadClient, rate: float, duration: float, grace: float) -> dict[str, Any]:
    await client.command("start")
    await asyncio.sleep(0.2)
    cpu0, ccpu0 = cpu_seconds(system.pids), cpu_seconds([client.proc.pid])
    sent, t0, t1 = await paced(system.publish, rate, duration)
    cpu1, ccpu1 = cpu_seconds(system.pids), cpu_seconds([client.proc.pid])
    await asyncio.sleep(grace)  # let late deliveries arrive before the latency report
    rep = await client.report(t0, t1)
    window = t1 - t0
    return {"sent": sent, "expected": sent * client.ready["ready"], "deliveries": rep["deliveries"],
            "per_s": rep["in_window"] / window, "p50": rep["p50"], "p99": rep["p99"], "max": rep["max"],
            "cpu_us": (cpu1 - cpu0) / max(1, rep["in_window"]) * 1e6, "cpu_s": cpu1 - cpu0,
            "server_cores": (cpu1 - cpu0) / window, "client_cores": (ccpu1 - ccpu0) / window,
            "open": rep["open"], "closes": rep["close_codes"], "p99_kept": rep.get("p99_kept"),
            "shed": int(rep["close_codes"].get("4008", 0)), "rss": rss_bytes(system.pids)}


async def settle(pids: list[int], limit: float = 90.0, quiet: float = 0.15) -> float:
    """Wait (at most ``limit`` s) until ``pids`` together use under ``quiet`` cores: an overloaded
    run leaves a backlog in Redis's pub/sub buffers that its servers and client go on draining
    after the run, and that took the CPU from the next stack's run (the first overload runs
    measured ChannelsPlugin, run right after the bare baseline, on 0.64 of the 1.3 cores the others
    got). Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pids)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pids) - c0) / 0.5 < quiet:
            break
    return time.monotonic() - t0


def med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs if r[key] is not None))


async def scenario(systems: list[System], subs: int, rate: float, args: Any, logdir: Path,
                   fresh: bool = False) -> dict[str, Any]:
    clients = {}
    for s in systems:
        clients[s.name] = await LoadClient.start(s.client_cfg(subs, args.deflate), logdir / f"client-{s.name}.log")
    await asyncio.sleep(1.0)
    out: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
    try:
        for s in systems:  # background CPU with the subscribers connected and nothing published
            c0, w0 = cpu_seconds(s.pids), time.monotonic()
            await asyncio.sleep(3.0)
            idle = (cpu_seconds(s.pids) - c0) / (time.monotonic() - w0)
            out.setdefault("idle_cores", {})[s.name] = idle  # type: ignore[index]
            log(f"  {s.name:8} idle with {subs} subscribers: {idle:.3f} cores")
        for run in range(args.runs):  # interleaved, so both see the same background noise
            for s in systems:
                if fresh and run > 0:  # sockets shed in the last run stay closed: start over
                    await clients[s.name].quit()
                    await asyncio.sleep(1.0)
                    clients[s.name] = await LoadClient.start(s.client_cfg(subs, args.deflate),
                                                             logdir / f"client-{s.name}.log")
                    await asyncio.sleep(2.0)
                waited = await settle([p for x in systems for p in x.pids] + [c.proc.pid for c in clients.values()])
                if waited > 1.0:
                    log(f"  (waited {waited:.1f} s for the last run's backlog to drain)")
                r = await one_run(s, clients[s.name], rate, args.duration, args.grace)
                out[s.name].append(r)
                log(f"  {s.name:8} {subs}x{rate:g} run {run + 1}: {r['per_s']:.0f} deliveries/s "
                    f"(expected {subs * rate:.0f}), p50 {r['p50'] or 0:.1f} ms, p99 {r['p99'] or 0:.1f} ms, "
                    f"{r['cpu_us']:.1f} µs CPU/delivery, servers {r['server_cores']:.2f} cores, "
                    f"client {r['client_cores']:.2f} cores, lost {r['expected'] - r['deliveries']}, "
                    f"open {r['open']}, closes {r['closes']}")
    finally:
        for c in clients.values():
            await c.quit()
    return out


async def idle_memory(system: System, sizes: list[int], args: Any, logdir: Path) -> dict[int, float]:
    """RSS delta of the server processes per idle subscribed socket, sockets added cumulatively."""
    warm = await LoadClient.start(system.client_cfg(20, args.deflate), logdir / f"client-mem-{system.name}.log")
    await warm.quit()
    await asyncio.sleep(1.5)
    base = rss_bytes(system.pids)
    held, out, have = [], {}, 0
    try:
        for size in sizes:
            held.append(await LoadClient.start(system.client_cfg(size - have, args.deflate),
                                               logdir / f"client-mem-{system.name}.log", timeout=600))
            have = size
            await asyncio.sleep(3.0)
            out[size] = (rss_bytes(system.pids) - base) / size
            log(f"  {system.name:8} {size} idle sockets: {out[size] / 1024:.1f} KB RSS per socket")
    finally:
        for c in held:
            await c.quit()
    return out


async def rest_row(world: World, hubwire: System, bases: list[str], subs: int, rate: float, args: Any,
                   logdir: Path) -> list[dict[str, Any]]:
    """Discussions posted by a moderator (exempt from posting rate limits) through the real REST route,
    alternating between the two instances, delivered as ``discussion.created`` on ``space:{id}``."""
    client = await LoadClient.start(hubwire.client_cfg(subs, args.deflate, channel=f"space:{world.space_id}"),
                                    logdir / "client-rest.log")
    headers = {"Authorization": f"Bearer {world.moderator_token}", **JSONAPI}
    https = [httpx.AsyncClient(base_url=b, timeout=30.0, headers=headers) for b in bases]
    path = f"/api/v1/hub/{world.hub_id}/spaces/{world.space_id}/discussions"
    posted: list[float] = []
    failures: list[str] = []

    async def post(i: int) -> None:
        t = time.time()
        r = await https[i % 2].post(path, json=doc("discussions", {"title": f"Bench {i}", "body": f"{BODY} sent={t:.6f}"}))
        if r.status_code == 201:
            posted.append((time.time() - t) * 1000)
        else:
            failures.append(f"{r.status_code} {r.text[:200]}")

    async def spawned(i: int) -> None:  # fixed rate: a slow response does not hold back the next post
        tasks.append(asyncio.ensure_future(post(i)))

    runs = []
    try:
        await asyncio.sleep(1.0)
        for run in range(args.runs):
            posted.clear()
            tasks: list[asyncio.Future[None]] = []
            await client.command("start")
            cpu0 = cpu_seconds(hubwire.pids)
            _, t0, _ = await paced(spawned, rate, args.duration)
            await asyncio.gather(*tasks)
            t2 = time.time()
            cpu1 = cpu_seconds(hubwire.pids)
            await asyncio.sleep(args.grace)
            rep = await client.report(t0, t2)
            r = {"posts_per_s": len(posted) / (t2 - t0), "post_p50": statistics.median(posted) if posted else None,
                 "post_p99": sorted(posted)[int(len(posted) * 0.99)] if posted else None,
                 "per_s": rep["in_window"] / (t2 - t0), "p50": rep["p50"], "p99": rep["p99"],
                 "expected": len(posted) * client.ready["ready"], "deliveries": rep["deliveries"],
                 "failures": len(failures), "cpu_us": (cpu1 - cpu0) / max(1, rep["in_window"]) * 1e6}
            runs.append(r)
            log(f"  REST {subs}x{rate:g} run {run + 1}: {r['posts_per_s']:.1f} posts/s (POST p50 "
                f"{r['post_p50'] or 0:.1f} ms, p99 {r['post_p99'] or 0:.1f} ms), {r['per_s']:.0f} deliveries/s, "
                f"delivery p50 {r['p50'] or 0:.1f} ms, p99 {r['p99'] or 0:.1f} ms, "
                f"lost {r['expected'] - r['deliveries']}, failures {len(failures)} {failures[:1]}")
    finally:
        for h in https:
            await h.aclose()
        await client.quit()
    return runs


# ---- main ------------------------------------------------------------------------------------------------------


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "—" if x is None else format(x, spec)


async def main(args: Any) -> None:
    if not all((HERE / "node_modules" / m).exists() for m in ("ws", "redis")):
        log("npm install (bench/fanout) ...")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)  # noqa: ASYNC221
    logdir = Path(tempfile.mkdtemp(prefix="hubwire-fanout-"))
    log(f"logs in {logdir}")
    prefix = f"hubwire_bench_{secrets.token_hex(4)}:"
    db_name, db_url = await create_database(args.database_url)
    redis = aredis.Redis.from_url(args.redis_url)
    try:
        env = clean_env()
        hw_env = hubwire_env(env, logdir, db_url, args.redis_url, prefix)
        hubwire_cmd = hubwire_command()
        hw_ports, hw_procs = [free_port(), free_port()], []
        for i, port in enumerate(hw_ports):  # one after the other: the first one migrates the database
            lf = logdir / f"hubwire-{i}.log"
            proc = spawn([*hubwire_cmd, "serve", "--host", "127.0.0.1", "--port", str(port)], hw_env, lf, cwd=ROOT)
            wait_http(f"http://127.0.0.1:{port}", "/health", proc, lf)
            hw_procs.append(proc)
        def forwarder_pair(name: str, cmd: list[str]) -> tuple[str, list[int], list[str]]:
            """Two processes of a stack that forwards the Redis channel ``<prefix><name>`` to its
            sockets (``cmd`` + ``--port``): the channel, their pids and their socket URLs."""
            channel = prefix + name
            pids, urls = [], []
            for i in range(2):
                port, lf = free_port(), logdir / f"{name}-{i}.log"
                proc = spawn([*cmd, "--port", str(port)],
                             dict(env, BENCH_REDIS_URL=args.redis_url, BENCH_CHANNEL=channel), lf, cwd=HERE)
                wait_http(f"http://127.0.0.1:{port}", "/", proc, lf)
                pids.append(proc.pid)
                urls.append(f"ws://127.0.0.1:{port}/ws")
            return channel, pids, urls

        forwarders = {"baseline": forwarder_pair("baseline", [sys.executable, str(HERE / "baseline_app.py")])}
        if args.channels:
            forwarders["channels"] = forwarder_pair("channels", [sys.executable, str(HERE / "baseline_app.py"),
                                                                 "--channels"])
        if args.node:
            forwarders["node"] = forwarder_pair("node", ["node", str(HERE / "node_server.mjs")])

        bases = [f"http://127.0.0.1:{p}" for p in hw_ports]
        world = World(bases[0])
        log(f"hub {world.hub_id}: {N_MEMBERS} members, a moderator, space {world.space_id}")
        hubwire = System("hubwire", [p.pid for p in hw_procs],
                         [f"ws://127.0.0.1:{p}/api/v1/hub/{world.hub_id}/ws" for p in hw_ports],
                         [["hubwire.v1", f"bearer.{t}"] for t in world.tokens],  # round-robin per socket
                         {"op": "subscribe", "channel": f"hub:{world.hub_id}"},
                         hubwire_publisher(redis, prefix, world.hub_id))
        baseline, *others = (System(name, pids, urls, None, None, baseline_publisher(redis, channel, world.hub_id))
                             for name, (channel, pids, urls) in forwarders.items())

        systems = [hubwire, baseline, *others]
        log(f"servers: hubwire pids {hubwire.pids}, baseline pids {baseline.pids}; client: node ws, "
            f"permessage-deflate {'offered' if args.deflate else 'off'}")

        results: dict[str, Any] = {"scenarios": {}, "memory": {}, "rest": None}
        if not args.skip_memory:
            log("idle memory ...")
            for s in systems:
                results["memory"][s.name] = await idle_memory(s, args.memory_sizes, args, logdir)
        for subs, rate in args.scenarios:
            log(f"scenario {subs} subscribers x {rate:g} msg/s ...")
            results["scenarios"][(subs, rate)] = await scenario(systems, subs, rate, args, logdir)
        for subs, rate in args.overload:
            log(f"overload {subs} subscribers x {rate:g} msg/s ...")
            results.setdefault("overload", {})[(subs, rate)] = await scenario(systems, subs, rate, args, logdir,
                                                                               fresh=True)
        if not args.skip_rest:
            log(f"REST row: {args.rest_subs} subscribers x {args.rest_rate:g} posts/s ...")
            results["rest"] = await rest_row(world, hubwire, bases, args.rest_subs, args.rest_rate, args, logdir)
        print_table(results, args)
    finally:
        await redis.aclose()
        await clean_up(args, db_name, logdir, prefix)


async def clean_up(args: Any, db_name: str, logdir: Path, prefix: str | None = None) -> None:
    """Stop every process this bench started, clear its Redis prefix (when given), drop its
    database, and remove its logs unless ``--keep-logs``; a failing step is logged, not raised."""
    stop_all()
    if prefix is not None:
        try:
            await clear_prefix(args.redis_url, prefix)
        except Exception as exc:  # noqa: BLE001
            log(f"could not clear Redis prefix {prefix}: {exc}")
    try:
        await drop_database(args.database_url, db_name)
    except Exception as exc:  # noqa: BLE001
        log(f"could not drop database {db_name}: {exc}")
    if not args.keep_logs:
        shutil.rmtree(logdir, ignore_errors=True)


def print_table(results: dict[str, Any], args: Any) -> None:
    n = args.runs
    print()
    print(f"Realtime fan-out: Hubwire (2 instances) vs bare Litestar + Redis pub/sub (2 instances); "
          f"median of {n} run(s) of {args.duration:g} s; client: Node.js ws, permessage-deflate "
          f"{'offered' if args.deflate else 'off'}")
    print()
    print("| scenario | system | deliveries/s | × baseline | p50 ms | p99 ms | CPU µs/delivery | × baseline "
          "| server / client CPU (cores) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    idle_notes = []
    for (subs, rate), out in results["scenarios"].items():
        hw, bl = out["hubwire"], out["baseline"]
        if "idle_cores" in out:
            idle_notes.append(f"{subs} subscribers: Hubwire {out['idle_cores']['hubwire']:.3f}, "
                              f"baseline {out['idle_cores']['baseline']:.3f}")
        for name, runs in (("Hubwire", hw), ("baseline", bl), ("ChannelsPlugin", out.get("channels")),
                           ("Node.js ws", out.get("node"))):
            if not runs:
                continue
            d, c = med(runs, "per_s"), med(runs, "cpu_us")
            rd = d / med(bl, "per_s")
            rc = c / med(bl, "cpu_us")
            lost = sum(r["expected"] - r["deliveries"] for r in runs)
            note = f" (lost {lost})" if lost else ""
            print(f"| {subs} × {rate:g} msg/s (expected {subs * rate:,.0f}/s) | {name} | {d:,.0f}{note} | {rd:.2f} | "
                  f"{med(runs, 'p50'):.1f} | {med(runs, 'p99'):.1f} | {c:.1f} | {rc:.2f} | "
                  f"{med(runs, 'server_cores'):.2f} / {med(runs, 'client_cores'):.2f} |")
    if idle_notes:
        print()
        print("Server CPU with the subscribers connected and nothing published (cores, included in the CPU "
              "per delivery above): " + "; ".join(idle_notes))
    for (subs, rate), out in results.get("overload", {}).items():
        print()
        print(f"Overload: {subs} subscribers × {rate:g} msg/s offered ({subs * rate:,.0f} deliveries/s), median of "
              f"{n} run(s); p99 over the sockets still open at the end; shed = sockets closed 4008 (not reopened "
              f"by the client); RSS of the two server processes at the end")
        print()
        print("| system | deliveries/s | × baseline | × ChannelsPlugin | p99 ms (all) | p99 ms (kept sockets) "
              "| sockets shed | open at end | RSS MB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        bl, ch = out["baseline"], out.get("channels")
        for name, runs in (("Hubwire", out["hubwire"]), ("baseline", bl), ("ChannelsPlugin", ch),
                           ("Node.js ws", out.get("node"))):
            if not runs:
                continue
            d = med(runs, "per_s")
            vs_ch = f"{d / med(ch, 'per_s'):.2f}" if ch else "–"
            kept = [r["p99_kept"] for r in runs if r["p99_kept"] is not None]
            print(f"| {name} | {d:,.0f} | {d / med(bl, 'per_s'):.2f} | {vs_ch} | {med(runs, 'p99'):.0f} | "
                  f"{statistics.median(kept) if kept else float('nan'):.0f} | {med(runs, 'shed'):.0f} | "
                  f"{med(runs, 'open'):.0f} | {med(runs, 'rss') / 2**20:.0f} |")
    rest = results.get("rest")
    if rest:
        print()
        print("| REST row: discussions posted through `POST /api/v1/hub/{hub}/spaces/{space}/discussions` | value |")
        print("| --- | ---: |")
        print(f"| subscribers × target rate | {args.rest_subs} × {args.rest_rate:g} posts/s |")
        print(f"| posts/s achieved | {med(rest, 'posts_per_s'):.1f} |")
        print(f"| POST latency p50 / p99 ms | {med(rest, 'post_p50'):.1f} / {med(rest, 'post_p99'):.1f} |")
        print(f"| deliveries/s | {med(rest, 'per_s'):,.0f} |")
        print(f"| delivery latency (from before the POST) p50 / p99 ms | {med(rest, 'p50'):.1f} / {med(rest, 'p99'):.1f} |")
        print(f"| server CPU µs/delivery (incl. the REST work) | {med(rest, 'cpu_us'):.1f} |")
        print(f"| failed posts / lost deliveries | {sum(r['failures'] for r in rest)} / "
              f"{sum(r['expected'] - r['deliveries'] for r in rest)} |")
    mem = results.get("memory")
    if mem:
        print()
        others = [(name, label) for name, label in (("channels", "ChannelsPlugin"), ("node", "Node.js ws"))
                  if name in mem]
        print("| idle sockets | Hubwire KB/socket | baseline KB/socket | × baseline |"
              + "".join(f" {label} KB/socket |" for _, label in others))
        print("| ---: | ---: | ---: | ---: |" + " ---: |" * len(others))
        for size in args.memory_sizes:
            h, b = mem["hubwire"][size] / 1024, mem["baseline"][size] / 1024
            print(f"| {size:,} | {h:.1f} | {b:.1f} | {h / b if b > 0 else float('nan'):.2f} |"
                  + "".join(f" {mem[name][size] / 1024:.1f} |" for name, _ in others))


def parse_args() -> Any:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--quick", action="store_true", help="3 s per measurement, one run each")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--grace", type=float, default=3.0, help="seconds to wait for late deliveries")
    ap.add_argument("--scenarios", default="500x40,1000x50,1000x100")
    ap.add_argument("--memory-sizes", default="1000,5000")
    ap.add_argument("--rest-subs", type=int, default=500)
    ap.add_argument("--rest-rate", type=float, default=40.0)
    ap.add_argument("--deflate", action="store_true",
                    help="offer permessage-deflate as browsers do (uvicorn accepts it: every frame is then "
                         "compressed once per socket); off by default, to measure the gateway itself")
    ap.add_argument("--overload", default="",
                    help="scenarios offering more than the box can deliver, e.g. 1000x200: delivered/s, p99 of "
                         "the sockets kept, sockets shed, memory (one client per system: shed sockets stay closed)")
    ap.add_argument("--channels", action="store_true",
                    help="also run the Litestar ChannelsPlugin stack (baseline_app.py --channels)")
    ap.add_argument("--node", action="store_true",
                    help="also run a Node.js `ws` server fed by Redis pub/sub (node_server.mjs), same job as the "
                         "bare baseline")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-rest", action="store_true")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.runs, args.grace = 3.0, 1, 2.0
    args.scenarios = [(int(a), float(b)) for a, b in (s.split("x") for s in args.scenarios.split(",") if s)]
    args.overload = [(int(a), float(b)) for a, b in (s.split("x") for s in args.overload.split(",") if s)]
    args.memory_sizes = [int(x) for x in args.memory_sizes.split(",") if x]
    return args


if __name__ == "__main__":
    a = parse_args()
    _raise_nofile()

    def on_signal(sig: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        asyncio.run(asyncio.wait_for(main(a), timeout=3600))
    finally:
        stop_all()
