"""Soak: N WebSocket subscribers (default 10,000) on one ``hubwire serve`` instance for several
minutes with steady traffic; the server's RSS over time, and its asyncio tasks, file descriptors
and threads at the start and end (and once the sockets are gone). Not part of the test suite.

    .venv/bin/python bench/soak.py [--sockets 10000] [--minutes 5] [--rate 2] [--sample 15]
                                   [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                   [--redis-url redis://127.0.0.1:6379/0]

Starts everything itself on 127.0.0.1 and removes it at the end: a throwaway PostgreSQL database,
a Redis key prefix, the server (bench/soak_server.py: ``hubwire serve`` that also reports its task
count), and the Node.js load client of bench/fanout (members authenticated by token, each socket
subscribed to the hub channel; ``npm install`` runs there if needed). Announcements are published
at ``--rate`` per second through the production publisher (Lua script: seq, history, PUBLISH), so
every socket receives every one.

The baseline is measured in the same run: the server with every socket connected, before traffic.
Reported: RSS at each sample and as a ratio to that baseline, deliveries and their latency, and
tasks/fds/threads idle (no sockets), at the start of traffic, at its end, and after the sockets close.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("fanout_run", HERE / "fanout" / "run.py")
assert _spec is not None and _spec.loader is not None
fr = importlib.util.module_from_spec(_spec)
sys.modules["fanout_run"] = fr
_spec.loader.exec_module(fr)

import redis.asyncio as aredis  # noqa: E402


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int) -> dict[str, int]:
    """The process's open files by kind: TCP sockets by the peer's port (5432 PostgreSQL, 6379
    Redis; the server's own port: clients), listening sockets, and the rest."""
    peers: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            local, remote, state, inode = f[1], f[2], f[3], f[9]
            peers[inode] = "listening" if state == "0A" else f"tcp:{int(remote.split(':')[1], 16)}" \
                if int(remote.split(":")[1], 16) in (5432, 6379) else f"tcp:local {int(local.split(':')[1], 16)}"
    out: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = peers.get(target[8:-1], "socket (other)") if target.startswith("socket:[") else \
            target.split(":")[0] if ":" in target else "file"
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def tasks(stats: Path) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            data = json.loads(stats.read_text())
            if time.time() - data["at"] < 3:
                return int(data["tasks"])
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return -1


def snapshot(pid: int, stats: Path) -> dict[str, Any]:
    return {"rss_mb": fr.rss_bytes([pid]) / 2**20, "tasks": tasks(stats), "fds": fds(pid), "threads": threads(pid)}


async def main(args: Any) -> None:
    if not (HERE / "fanout" / "node_modules" / "ws").exists():
        fr.log("npm install (bench/fanout) ...")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE / "fanout", check=True, timeout=300)  # noqa: ASYNC221
    logdir = Path(tempfile.mkdtemp(prefix="hubwire-soak-"))
    stats = logdir / "stats.json"
    prefix = f"hubwire_soak_{secrets.token_hex(4)}:"
    db_name, db_url = await fr.create_database(args.database_url)
    redis = aredis.Redis.from_url(args.redis_url)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBWIRE_", "BENCH_"))}
        env.update(HUBWIRE_DATA_DIR=str(logdir / "data"), HUBWIRE_DATABASE_URL=db_url, HUBWIRE_REDIS_URL=args.redis_url,
                   HUBWIRE_REDIS_PREFIX=prefix, HUBWIRE_PASSWORD_HASHING="fast", HUBWIRE_LOG_LEVEL="WARNING",
                   HUBWIRE_SECRET_KEY="bench-soak-secret-" + "s" * 40, HUBWIRE_ACCESS_TOKEN_TTL="7200",
                   HUBWIRE_RT_MAX_SOCKETS="100000",  # the sockets share the member tokens of bench/fanout's World
                   SOAK_STATS=str(stats))
        port = fr.free_port()
        lf = logdir / "hubwire.log"
        proc = fr.spawn([sys.executable, str(HERE / "soak_server.py"), "serve", "--host", "127.0.0.1", "--port",
                         str(port)], env, lf, cwd=ROOT)
        fr.wait_http(f"http://127.0.0.1:{port}", "/health", proc, lf)
        world = fr.World(f"http://127.0.0.1:{port}")
        idle = snapshot(proc.pid, stats)
        idle_kinds = fd_kinds(proc.pid)
        fr.log(f"server pid {proc.pid}, idle: {idle}")

        cfg = {"urls": [f"ws://127.0.0.1:{port}/api/v1/hub/{world.hub_id}/ws"], "n": args.sockets,
               "protocols": [["hubwire.v1", f"bearer.{t}"] for t in world.tokens],
               "subscribe": {"op": "subscribe", "channel": f"hub:{world.hub_id}"}, "concurrency": 16,
               "deflate": False, "lifetime": int(args.minutes * 60 + 1200)}
        t_connect = time.monotonic()
        client = await fr.LoadClient.start(cfg, logdir / "client.log", timeout=1200)
        fr.log(f"{client.ready['ready']} of {args.sockets} sockets open and subscribed in "
               f"{time.monotonic() - t_connect:.0f} s")
        await asyncio.sleep(3.0)
        start = snapshot(proc.pid, stats)
        fr.log(f"baseline (sockets open, no traffic yet): {start}")
        publish = fr.hubwire_publisher(redis, prefix, world.hub_id)
        await client.command("start")
        samples = [(0.0, start["rss_mb"])]
        sent_total, t0, elapsed = 0, time.time(), 0.0
        while elapsed < args.minutes * 60:
            chunk = min(args.sample, args.minutes * 60 - elapsed)
            sent, _, _ = await fr.paced(publish, args.rate, chunk)
            sent_total += sent
            elapsed += chunk
            rss = fr.rss_bytes([proc.pid]) / 2**20
            samples.append((elapsed, rss))
            fr.log(f"  t={elapsed:5.0f} s  RSS {rss:7.1f} MB ({rss / start['rss_mb']:.3f}x baseline)  "
                   f"published {sent_total}")
        t1 = time.time()
        await asyncio.sleep(3.0)
        end = snapshot(proc.pid, stats)
        rep = await client.report(t0, t1)
        await client.quit()
        # The sockets close (each within the close timeout); then read until the counts settle.
        closed, settled = snapshot(proc.pid, stats), time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(2.0)
            now = snapshot(proc.pid, stats)
            if (now["fds"], now["tasks"]) != (closed["fds"], closed["tasks"]):
                closed, settled = now, time.monotonic()
            elif time.monotonic() - settled >= 6:
                break

        n = client.ready["ready"]
        print(f"\nsoak: {n} sockets on one instance, {args.minutes:g} min, {args.rate:g} events/s "
              f"({sent_total} events, {sent_total * n} deliveries expected, {rep['deliveries']} received, "
              f"p50 {rep['p50'] or 0:.1f} ms, p99 {rep['p99'] or 0:.1f} ms, close codes {rep['close_codes']})")
        print("RSS over time (MB, ratio to the baseline with the sockets open):")
        for at, rss in samples:
            print(f"  {at:6.0f} s  {rss:8.1f}  {rss / start['rss_mb']:.3f}x")
        print(f"{'':22} {'RSS MB':>8} {'tasks':>7} {'fds':>7} {'threads':>8}")
        for name, s in (("idle (no sockets)", idle), ("start (sockets open)", start), ("end of traffic", end),
                        ("sockets closed", closed)):
            print(f"{name:22} {s['rss_mb']:8.1f} {s['tasks']:7d} {s['fds']:7d} {s['threads']:8d}")
        print(f"open files idle: {idle_kinds}; after close: {fd_kinds(proc.pid)}")
        print(f"end/start RSS {end['rss_mb'] / start['rss_mb']:.3f}x; tasks end-start {end['tasks'] - start['tasks']:+d}, "
              f"fds end-start {end['fds'] - start['fds']:+d}; after close vs idle: tasks "
              f"{closed['tasks'] - idle['tasks']:+d}, fds {closed['fds'] - idle['fds']:+d}")
    finally:
        await redis.aclose()
        fr.stop_all()
        try:
            await fr.clear_prefix(args.redis_url, prefix)
        except Exception as exc:  # noqa: BLE001
            fr.log(f"could not clear Redis prefix {prefix}: {exc}")
        try:
            await fr.drop_database(args.database_url, db_name)
        except Exception as exc:  # noqa: BLE001
            fr.log(f"could not drop database {db_name}: {exc}")
        if args.keep_logs:
            fr.log(f"logs kept in {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


def parse_args() -> Any:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=2.0, help="events per second, each to every socket")
    ap.add_argument("--sample", type=float, default=15.0, help="seconds between RSS samples")
    ap.add_argument("--database-url", default=fr.DEFAULT_DB)
    ap.add_argument("--redis-url", default=fr.DEFAULT_REDIS)
    ap.add_argument("--keep-logs", action="store_true")
    return ap.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
