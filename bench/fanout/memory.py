"""Where the memory of an idle subscribed socket goes: tracemalloc, object counts and RSS inside
one `hubwire serve`-equivalent process (the app on uvicorn with the settings of server/cli.py, run
on a thread of this process so that tracemalloc sees it), embedded default (SQLite, in-process
broker), with N idle member sockets subscribed to their hub's channel (Node.js `ws` client,
bench/fanout/client.mjs).

    .venv/bin/python bench/fanout/memory.py [--sockets 5000] [--top 25] [--no-trace]

Prints per socket: RSS growth, bytes traced by tracemalloc (Python allocations) and their top
source lines, the object types whose count grew by at least one per socket, and tasks per socket.
With --no-trace only RSS and object counts are measured (tracemalloc itself costs memory and time).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from run import PAGE, LoadClient, World, _raise_nofile  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def type_counts() -> Counter[str]:
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def start_server(port: int, ws: str = "auto") -> tuple[Any, threading.Thread, dict[str, Any]]:
    import uvicorn

    from server.app import create_app

    box: dict[str, Any] = {}

    def factory() -> Any:
        app = create_app()
        box["app"] = app
        return app

    config = uvicorn.Config(factory, factory=True, host="127.0.0.1", port=port, log_level="warning",
                            proxy_headers=False, ws_per_message_deflate=False, ws=ws)
    server = uvicorn.Server(config)

    def run() -> None:
        import uvloop

        loop = uvloop.new_event_loop()
        box["loop"] = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    return server, thread, box


async def main(args: Any) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hubwire-mem-"))
    os.environ.update(HUBWIRE_DATA_DIR=str(tmp), HUBWIRE_PASSWORD_HASHING="fast", HUBWIRE_LOG_LEVEL="WARNING",
                      HUBWIRE_SECRET_KEY="bench-memory-secret-" + secrets.token_hex(20), HUBWIRE_ACCESS_TOKEN_TTL="7200",
                      HUBWIRE_RT_MAX_SOCKETS="100000", HUBWIRE_RT_OPS_PER_SECOND="1000")
    for k in ("HUBWIRE_DATABASE_URL", "HUBWIRE_REDIS_URL"):
        os.environ.pop(k, None)
    if not args.no_trace:
        tracemalloc.start(1)
    from run import free_port

    port = free_port()
    server, thread, box = start_server(port, args.ws)
    base = f"http://127.0.0.1:{port}"
    world = await asyncio.to_thread(World, base)
    url = f"ws://127.0.0.1:{port}/api/v1/hub/{world.hub_id}/ws"
    cfg = {"urls": [url], "protocols": [["hubwire.v1", f"bearer.{t}"] for t in world.tokens],
           "subscribe": {"op": "subscribe", "channel": f"hub:{world.hub_id}"}, "concurrency": 16, "lifetime": 900}
    warm = await LoadClient.start(dict(cfg, n=50), tmp / "client.log")
    await warm.quit()
    await asyncio.sleep(2.0)
    gc.collect()
    r0, c0 = rss(), type_counts()
    s0 = tracemalloc.take_snapshot() if not args.no_trace else None
    gateway = box["app"].state.realtime
    held = await LoadClient.start(dict(cfg, n=args.sockets), tmp / "client.log", timeout=900)
    n = held.ready["ready"]
    await asyncio.sleep(3.0)
    gc.collect()
    r1, c1 = rss(), type_counts()
    s1 = tracemalloc.take_snapshot() if not args.no_trace else None
    tasks = len(asyncio.all_tasks(box["loop"]))
    print(f"\nIdle subscribed sockets: {n} (gateway holds {len(gateway.connections)}); embedded default; "
          f"uvicorn ws={args.ws} {'with tracemalloc' if s0 else 'without tracemalloc'}\n")
    print(f"RSS growth per socket: {(r1 - r0) / n / 1024:.1f} KB")
    print(f"asyncio tasks: {tasks} ({tasks / n:.2f} per socket)")
    if s0 is not None and s1 is not None:
        stats = s1.compare_to(s0, "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"Python allocations (tracemalloc) per socket: {total / n / 1024:.2f} KB\n")
        print("| bytes/socket | allocations/socket | where |")
        print("| ---: | ---: | --- |")
        for s in stats[:args.top]:
            frame = s.traceback[0]
            where = f"{frame.filename.split('site-packages/')[-1].replace(str(HERE.parent.parent) + '/', '')}:{frame.lineno}"
            print(f"| {s.size_diff / n:,.0f} | {s.count_diff / n:.2f} | `{where}` |")
    print("\n| object type | count/socket | ")
    print("| --- | ---: |")
    grown = sorted(((k, (c1[k] - c0.get(k, 0)) / n) for k in c1), key=lambda kv: -kv[1])
    for k, per in grown:
        if per < 0.99:
            break
        print(f"| `{k}` | {per:.2f} |")
    await held.quit()
    server.should_exit = True
    thread.join(20)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=5000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--ws", default="auto", help="uvicorn's WebSocket implementation (auto, websockets, "
                    "websockets-sansio, wsproto); hubwire serve runs auto")
    a = ap.parse_args()
    _raise_nofile()
    asyncio.run(main(a))
