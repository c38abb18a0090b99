"""Redis CPU per delivery, sharded (``HUBWIRE_REDIS_SHARDS``) against one Redis node, and how the load
spreads over the nodes.

    .venv/bin/python bench/fanout/shards.py [--shards 3] [--hubs 30] [--sockets 600] [--rate 150]
                                            [--duration 20] [--runs 3] [--database-url ...] [--keep-logs]

Starts everything itself on 127.0.0.1 and stops it at the end (pieces of bench/fanout/run.py):
- redis-servers of its own on free ports (no persistence): one for the **one-node** configuration
  (``HUBWIRE_REDIS_URL`` only: channels, presence and limits on it, the default), and for the
  **sharded** one a main node (``HUBWIRE_REDIS_URL``: presence, limits) plus ``--shards`` channel nodes
  (``HUBWIRE_REDIS_SHARDS``). Only these processes are measured, never the machine's shared Redis;
- a throwaway PostgreSQL database (dropped at the end) shared by both configurations;
- two ``hubwire serve`` instances per configuration (four in all), ``--hubs`` hubs of one team, and one
  Node.js load client per configuration holding ``--sockets`` member sockets, spread evenly over the
  hubs and both instances, each subscribed to its hub's channel (``hub:{id}``: a channel per hub,
  landing on the node ``realtime.shards.shard_of`` picks).

Announcements are published at ``--rate`` per second in all, round-robin over the hubs, through the
production publisher path (``RealtimePublisher``: the stamp script numbers, stores and PUBLISHes on
the channel's node; sharded, ``ShardedHistory`` over a ``ShardedBroker``, as ``build_gateway`` wires
it). Runs alternate between the configurations (same background noise).

Measured per Redis node over the publishing window: CPU time (``/proc/<pid>/task/*/schedstat``,
nanoseconds; ``/proc/<pid>/stat`` counts whole 10 ms ticks, too coarse for these windows — its
total is printed as a cross-check), the stamp scripts it ran and messages it PUBLISHed (``INFO
commandstats``), and its CPU with the sockets connected and nothing published (idle: its timers,
presence refreshes). Reported: Redis CPU µs per published event and per delivery (frames received
by the client), the one-node figure as the baseline (ratios within the run), each node's share of
the events and of the CPU, and whether every event reached every subscriber of its hub exactly once
(per socket: frames counted, seq strictly increasing). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))  # this checkout's realtime package

import httpx
import msgspec
import redis.asyncio as aredis
from run import (
    DEFAULT_DB,
    ROOT,
    LoadClient,
    World,
    announcement,
    clean_env,
    clean_up,
    cpu_seconds,
    create_database,
    free_port,
    hubwire_command,
    hubwire_env,
    log,
    paced,
    spawn,
    stop_all,
    wait_http,
)

from realtime.history import RealtimePublisher, RedisHistory
from realtime.shards import ShardedBroker, ShardedHistory, shard_of


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of ``pid`` so far, in ns (schedstat's first field)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total


class Node:
    """A redis-server of the bench's own."""

    def __init__(self, name: str, logdir: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--daemonize", "no"], clean_env(), logdir / f"redis-{name}.log")
        self.client = aredis.Redis.from_url(self.url)

    async def ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                await self.client.ping()
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def sample(self) -> dict[str, float]:
        stats = await self.client.info("commandstats")
        net = await self.client.info("stats")
        return {"ns": cpu_ns(self.proc.pid), "ticks_s": cpu_seconds([self.proc.pid]),
                "out": net["total_net_output_bytes"],
                "scripts": sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval")),
                "publish": stats.get("cmdstat_publish", {}).get("calls", 0)}


class Config:
    """One deployment: its Redis nodes, two instances, its load client and publisher."""

    def __init__(self, name: str, nodes: list[Node], channel_nodes: list[Node]) -> None:
        self.name, self.nodes, self.channel_nodes = name, nodes, channel_nodes
        self.pids: list[int] = []
        self.ports: list[int] = []
        self.client: LoadClient | None = None
        self.publisher: Any = None
        self.idle: dict[str, float] = {}  # node name -> cores with the sockets connected, nothing published

    def node_of(self, hub_id: str) -> Node:
        return self.channel_nodes[shard_of(f"hub:{hub_id}", len(self.channel_nodes))]


async def start_config(cfg: Config, env: dict[str, str], logdir: Path, db_url: str, prefix: str) -> None:
    main_url = cfg.nodes[0].url
    hw_env = hubwire_env(env, logdir, db_url, main_url, prefix)
    if len(cfg.channel_nodes) > 1 or cfg.channel_nodes[0] is not cfg.nodes[0]:
        hw_env["HUBWIRE_REDIS_SHARDS"] = ",".join(n.url for n in cfg.channel_nodes)
    for i in range(2):  # one after the other: the first one of the run migrates the database
        port = free_port()
        lf = logdir / f"hubwire-{cfg.name}-{i}.log"
        proc = spawn([*hubwire_command(), "serve", "--host", "127.0.0.1", "--port", str(port)], hw_env, lf, cwd=ROOT)
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}", "/health", proc, lf)
        cfg.pids.append(proc.pid)
        cfg.ports.append(port)
    if "HUBWIRE_REDIS_SHARDS" in hw_env:  # as build_gateway wires it for a ShardedBroker
        broker = ShardedBroker([n.url for n in cfg.channel_nodes], prefix=prefix, main_url=main_url)
        cfg.publisher = RealtimePublisher(broker, ShardedHistory(broker, prefix), pubsub_prefix=prefix + "ch:")
    else:  # as build_gateway wires it for one Redis (the stamp script PUBLISHes itself)
        cfg.publisher = RealtimePublisher(None, RedisHistory(cfg.nodes[0].client, prefix), pubsub_prefix=prefix + "ch:")


def hubs_world(base: str, count: int) -> tuple[list[str], dict[str, list[str]]]:
    """``count`` hubs of one team: ids, and two member tokens each (the first hub has World's 20)."""
    world = World(base)
    tokens = {world.hub_id: world.tokens[:2]}
    with httpx.Client(base_url=base, timeout=30.0) as http:
        for i in range(1, count):
            hub_id, toks = world.add_hub(http, f"Bench hub {i}", 2)
            tokens[hub_id] = toks
    return list(tokens), tokens


def client_cfg(cfg: Config, hubs: list[str], tokens: dict[str, list[str]], n: int) -> dict[str, Any]:
    """Socket i gets entry i % len(entries): hubs x instances x tokens, so each hub has n/len(hubs) sockets
    spread over both instances."""
    urls, protocols, subscribe = [], [], []
    for hub in hubs:
        for j, port in enumerate(cfg.ports):
            urls.append(f"ws://127.0.0.1:{port}/api/v1/hub/{hub}/ws")
            protocols.append(["hubwire.v1", f"bearer.{tokens[hub][j % len(tokens[hub])]}"])
            subscribe.append({"op": "subscribe", "channel": f"hub:{hub}"})
    return {"urls": urls, "n": n, "protocols": protocols, "subscribe": subscribe, "concurrency": 16,
            "deflate": False, "lifetime": 3000, "per_socket": True}


async def samples(cfg: Config) -> dict[str, dict[str, float]]:
    return {n.name: await n.sample() for n in cfg.nodes}


async def one_run(cfg: Config, hubs: list[str], args: Any) -> dict[str, Any]:
    assert cfg.client is not None
    sent_per_hub: collections.Counter[str] = collections.Counter()
    enc = msgspec.json.Encoder()

    async def publish(i: int) -> None:
        hub = hubs[i % len(hubs)]
        sent_per_hub[hub] += 1
        await cfg.publisher.publish(f"hub:{hub}", announcement(enc, hub, i))

    await cfg.client.command("start")
    await asyncio.sleep(0.3)
    s0, srv0, w0 = await samples(cfg), cpu_seconds(cfg.pids), time.monotonic()
    sent, t0, _ = await paced(publish, args.rate, args.duration)
    await asyncio.sleep(0.2)  # Redis writes the last PUBLISHes' output to the subscribers' connections
    s1, srv1, window = await samples(cfg), cpu_seconds(cfg.pids), time.monotonic() - w0
    await asyncio.sleep(args.grace)
    rep = await cfg.client.report(t0 * 1000, time.time() * 1000)
    n_entries = len(hubs) * len(cfg.ports)
    counts = rep["counts"]
    expected_per_socket = [sent_per_hub[hubs[(i % n_entries) // len(cfg.ports)]] for i in range(len(counts))]
    wrong = sum(1 for c, e in zip(counts, expected_per_socket, strict=True) if c != e)
    subs_per_node: collections.Counter[str] = collections.Counter()
    for i in range(len(counts)):
        subs_per_node[cfg.node_of(hubs[(i % n_entries) // len(cfg.ports)]).name] += 1
    events_per_node: collections.Counter[str] = collections.Counter()
    deliveries_per_node: collections.Counter[str] = collections.Counter()
    for i, c in enumerate(counts):
        deliveries_per_node[cfg.node_of(hubs[(i % n_entries) // len(cfg.ports)]).name] += c
    for hub, k in sent_per_hub.items():
        events_per_node[cfg.node_of(hub).name] += k
    nodes = {}
    for n in cfg.nodes:
        a, b = s0[n.name], s1[n.name]
        cpu = (b["ns"] - a["ns"]) / 1e9
        nodes[n.name] = {"cpu_s": cpu, "ticks_s": b["ticks_s"] - a["ticks_s"],
                         "net_s": max(0.0, cpu - cfg.idle.get(n.name, 0.0) * window),
                         "scripts": b["scripts"] - a["scripts"], "publish": b["publish"] - a["publish"],
                         "out": b["out"] - a["out"],
                         "events": events_per_node[n.name], "subs": subs_per_node[n.name],
                         "deliveries": deliveries_per_node[n.name]}
    return {"sent": sent, "window": window, "expected": sum(expected_per_socket), "deliveries": rep["deliveries"],
            "wrong_sockets": wrong, "disorder": rep["disorder"], "open": rep["open"], "sockets": len(counts),
            "p50": rep["p50"], "p99": rep["p99"], "server_s": srv1 - srv0, "nodes": nodes}


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole > 0 else "—"


def report(configs: list[Config], hubs: list[str], results: dict[str, list[dict[str, Any]]], args: Any) -> None:
    one, sh = configs
    print()
    print(f"Redis CPU of the fan-out: {args.shards} channel nodes + a main node (sharded) against one node, "
          f"{len(hubs)} hubs, {args.sockets} member sockets per configuration on 2 instances, {args.rate:g} "
          f"announcements/s round-robin over the hubs, {args.duration:g} s windows, {args.runs} run(s) each, "
          f"alternating")
    print()
    print("| config | run | events | deliveries (expected) | sockets wrong / out of order | Redis CPU ms "
          "(stat ticks) | net of idle ms | µs/event | µs/delivery | × one node | net µs/delivery | × one node "
          "| servers µs/delivery (incl. idle) | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_run: dict[str, list[tuple[float, float]]] = {c.name: [] for c in configs}
    for k in range(args.runs):
        base = results[one.name][k]
        b_gross = sum(n["cpu_s"] for n in base["nodes"].values()) / max(1, base["deliveries"])
        b_net = sum(n["net_s"] for n in base["nodes"].values()) / max(1, base["deliveries"])
        for c in configs:
            r = results[c.name][k]
            cpu = sum(n["cpu_s"] for n in r["nodes"].values())
            ticks = sum(n["ticks_s"] for n in r["nodes"].values())
            net = sum(n["net_s"] for n in r["nodes"].values())
            d = max(1, r["deliveries"])
            per_run[c.name].append((cpu / d, net / d))
            print(f"| {c.name} | {k + 1} | {r['sent']:,} | {r['deliveries']:,} ({r['expected']:,}) | "
                  f"{r['wrong_sockets']} / {r['disorder']} | {cpu * 1e3:.0f} ({ticks * 1e3:.0f}) | {net * 1e3:.0f} | "
                  f"{cpu / max(1, r['sent']) * 1e6:.1f} | {cpu / d * 1e6:.2f} | {cpu / d / b_gross:.2f} | "
                  f"{net / d * 1e6:.2f} | {net / d / b_net if b_net else float('nan'):.2f} | "
                  f"{r['server_s'] / d * 1e6:.1f} | {r['p99'] or 0:.1f} |")
    print()
    print(f"Per node ({sh.name}: sums over the {args.runs} runs; idle = cores with the sockets connected and "
          f"nothing published, measured before the runs):")
    print()
    print("| config | node | holds | hub channels | sockets | events | stamp scripts | PUBLISHes | deliveries "
          "| MB out | CPU ms | net of idle ms | idle cores | µs/event | share of events | share of CPU | share of net CPU |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: |")
    for c in configs:
        tot = collections.defaultdict(float)
        for n in c.nodes:
            for key in ("cpu_s", "net_s", "events"):
                tot[key] += sum(r["nodes"][n.name][key] for r in results[c.name])
        for n in c.nodes:
            s = {key: sum(r["nodes"][n.name][key] for r in results[c.name])
                 for key in ("cpu_s", "net_s", "scripts", "publish", "events", "deliveries", "out")}
            subs = results[c.name][0]["nodes"][n.name]["subs"]
            holds = ("channels, presence, limits" if n in c.channel_nodes else "presence, limits") \
                if n is c.nodes[0] else "channels"
            hubs_here = sum(1 for h in hubs if c.node_of(h) is n) if n in c.channel_nodes else 0
            print(f"| {c.name} | {n.name} | {holds} | {hubs_here} | {subs} | {s['events']:,} | {s['scripts']:,} | "
                  f"{s['publish']:,} | {s['deliveries']:,} | {s['out'] / 1e6:.1f} | {s['cpu_s'] * 1e3:.0f} | {s['net_s'] * 1e3:.0f} | "
                  f"{c.idle[n.name]:.4f} | {s['cpu_s'] / s['events'] * 1e6 if s['events'] else float('nan'):.1f} | "
                  f"{share(s['events'], tot['events'])} | {share(s['cpu_s'], tot['cpu_s'])} | "
                  f"{share(s['net_s'], tot['net_s'])} |")
    g = [s[0] / o[0] for s, o in zip(per_run[sh.name], per_run[one.name], strict=True)]
    nt = [s[1] / o[1] for s, o in zip(per_run[sh.name], per_run[one.name], strict=True) if o[1]]
    ch = [sum(r["nodes"][n.name]["cpu_s"] for n in sh.channel_nodes) for r in results[sh.name]]
    ch_ratio = [c / max(1, r["deliveries"]) / o[0] for c, r, o in zip(ch, results[sh.name], per_run[one.name],
                                                                       strict=True)]
    cpu_by_node = {n.name: sum(r["nodes"][n.name]["cpu_s"] for r in results[sh.name]) for n in sh.channel_nodes}
    ev_by_node = {n.name: sum(r["nodes"][n.name]["events"] for r in results[sh.name]) for n in sh.channel_nodes}
    lost = sum(r["expected"] - r["deliveries"] for c in configs for r in results[c.name])
    wrong = sum(r["wrong_sockets"] + r["disorder"] for c in configs for r in results[c.name])
    print()
    print(f"Sharded / one node, Redis CPU per delivery (median over runs): all nodes {statistics.median(g):.2f}× "
          f"(runs {', '.join(f'{x:.2f}' for x in g)}); net of idle "
          f"{statistics.median(nt) if nt else float('nan'):.2f}×; channel nodes only (main node left out) "
          f"{statistics.median(ch_ratio):.2f}×. Busiest channel node: "
          f"{share(max(ev_by_node.values()), sum(ev_by_node.values()))} of the events, "
          f"{share(max(cpu_by_node.values()), sum(cpu_by_node.values()))} of the channel nodes' CPU "
          f"(even: {share(1, len(sh.channel_nodes))}). Delivered once each: "
          f"{'yes' if not lost and not wrong else 'NO'} (lost {lost}, sockets with a wrong count or seq "
          f"order {wrong}).")


async def main(args: Any) -> None:
    if not (HERE / "node_modules" / "ws").exists():
        raise SystemExit("run `npm install` in bench/fanout first")
    logdir = Path(tempfile.mkdtemp(prefix="hubwire-shards-"))
    log(f"logs in {logdir}")
    prefix = f"hubwire_bench_{secrets.token_hex(4)}:"
    db_name, db_url = await create_database(args.database_url)
    configs: list[Config] = []
    try:
        env = clean_env()
        single = Node("one", logdir)
        main_node = Node("main", logdir)
        shard_nodes = [Node(f"shard{i + 1}", logdir) for i in range(args.shards)]
        for n in (single, main_node, *shard_nodes):
            await n.ready()
        configs = [Config("one node", [single], [single]),
                   Config(f"{args.shards} shards", [main_node, *shard_nodes], shard_nodes)]
        for c in configs:
            await start_config(c, env, logdir, db_url, prefix)
        hubs, tokens = await asyncio.to_thread(hubs_world, f"http://127.0.0.1:{configs[0].ports[0]}", args.hubs)
        sh = configs[1]
        log(f"{len(hubs)} hubs; hub channels per channel node (sharded): "
            f"{[sum(1 for h in hubs if sh.node_of(h) is n) for n in sh.channel_nodes]}")
        for c in configs:
            c.client = await LoadClient.start(client_cfg(c, hubs, tokens, args.sockets),
                                              logdir / f"client-{c.name}.log", timeout=600)
            log(f"{c.name}: {c.client.ready['ready']} sockets open and subscribed (servers {c.pids}, "
                f"redis {[n.proc.pid for n in c.nodes]})")
        await asyncio.sleep(2.0)
        for c in configs:  # each node's CPU with the sockets connected and nothing published
            a, w0 = {n.name: cpu_ns(n.proc.pid) for n in c.nodes}, time.monotonic()
            await asyncio.sleep(args.idle)
            w = time.monotonic() - w0
            c.idle = {n.name: (cpu_ns(n.proc.pid) - a[n.name]) / 1e9 / w for n in c.nodes}
            log(f"{c.name}: idle Redis cores {', '.join(f'{k} {v:.4f}' for k, v in c.idle.items())}")
        results: dict[str, list[dict[str, Any]]] = {c.name: [] for c in configs}
        for k in range(args.runs):
            for c in configs if k % 2 == 0 else configs[::-1]:
                r = await one_run(c, hubs, args)
                results[c.name].append(r)
                cpu = sum(n["cpu_s"] for n in r["nodes"].values())
                log(f"  {c.name} run {k + 1}: {r['sent']} events, {r['deliveries']} deliveries (expected "
                    f"{r['expected']}), wrong sockets {r['wrong_sockets']}, out of order {r['disorder']}, "
                    f"Redis CPU {cpu * 1e3:.0f} ms = {cpu / max(1, r['deliveries']) * 1e6:.2f} µs/delivery; "
                    + ", ".join(f"{name} {n['cpu_s'] * 1e3:.0f} ms/{n['events']} ev"
                                for name, n in r["nodes"].items()))
        report(configs, hubs, results, args)
    finally:
        for c in configs:
            if c.client is not None:
                await c.client.quit()
        await clean_up(args, db_name, logdir)


def parse_args() -> Any:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--shards", type=int, default=3, help="channel nodes of the sharded configuration")
    ap.add_argument("--hubs", type=int, default=30, help="hubs (one channel each), sockets spread evenly")
    ap.add_argument("--sockets", type=int, default=600, help="member sockets per configuration")
    ap.add_argument("--rate", type=float, default=150.0, help="announcements per second, over all hubs")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of publishing per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured per configuration")
    ap.add_argument("--grace", type=float, default=2.0, help="seconds to wait for late deliveries")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    if args.shards < 2:
        ap.error("--shards needs at least 2 nodes (one node is the baseline)")
    return args


if __name__ == "__main__":
    a = parse_args()

    def on_signal(sig: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    os.environ.pop("HUBWIRE_REDIS_SHARDS", None)
    try:
        asyncio.run(asyncio.wait_for(main(a), timeout=1800))
    finally:
        stop_all()
