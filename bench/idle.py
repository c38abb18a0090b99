"""What a server costs with nothing to do: CPU of an idle ``hubwire serve``, against another tree.

    .venv/bin/python bench/idle.py [--compare-tree DIR] [--seconds 30] [--warmup 8]
                                   [--database-url postgresql+asyncpg://...] [--redis-url redis://...]

Starts ``hubwire serve`` (``python -m server.cli`` from this tree, and from ``--compare-tree`` beside
it, at the same time) on 127.0.0.1 with no sockets and no requests: SQLite in a temporary folder
each, or a throwaway PostgreSQL database each with ``--database-url`` (dropped at the end), Redis
with ``--redis-url``. After ``--warmup`` seconds it reads each process's CPU time from /proc over
``--seconds`` and prints it as a share of one core; both servers share the same box at the same
time, so the comparison holds on a busy machine. The background jobs (domain/polling.py, the
scheduler, the lapse job, the workers) are what an idle server runs.
"""

from __future__ import annotations

import argparse
import asyncio
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
sys.path.insert(0, str(HERE))

import sqlalchemy as sa
from rest import cpu_seconds, free_port, stop_all, wait_http
from sqlalchemy.ext.asyncio import create_async_engine


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


def main(args: Any) -> None:
    trees = [("this tree", ROOT)] + ([(Path(args.compare_tree).name, Path(args.compare_tree).resolve())]
                                     if args.compare_tree else [])
    tmp = Path(tempfile.mkdtemp(prefix="hubwire-idle-"))
    procs: list[subprocess.Popen[bytes]] = []
    databases: list[str] = []
    try:
        started = []
        for i, (name, tree) in enumerate(trees):
            data = tmp / f"data-{i}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
            env.update(HUBWIRE_DATA_DIR=str(data), HUBWIRE_LOG_LEVEL="WARNING", PYTHONPATH=str(tree),
                       HUBWIRE_SECRET_KEY="bench-idle-secret-" + "i" * 40)
            if args.database_url:
                db = f"hubwire_idle_{secrets.token_hex(4)}"
                asyncio.run(_admin(args.database_url, f'CREATE DATABASE "{db}"'))
                databases.append(db)
                env["HUBWIRE_DATABASE_URL"] = args.database_url.rsplit("/", 1)[0] + "/" + db
            if args.redis_url:
                env["HUBWIRE_REDIS_URL"] = args.redis_url
                env["HUBWIRE_REDIS_PREFIX"] = f"hubwire-idle-{secrets.token_hex(3)}:"
            port = free_port()
            log = tmp / f"serve-{i}.log"
            proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port",
                                     str(port)], env=env, cwd=tree, stdout=log.open("wb"), stderr=subprocess.STDOUT)
            procs.append(proc)
            started.append((name, proc, port, log))
        for _name, proc, port, log in started:
            wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        time.sleep(args.warmup)
        before = [cpu_seconds(proc.pid) for _n, proc, _p, _l in started]
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        after = [cpu_seconds(proc.pid) for _n, proc, _p, _l in started]
        backend = ("PostgreSQL" if args.database_url else "SQLite") + (" + Redis" if args.redis_url else "")
        print(f"\nIdle `hubwire serve` ({backend}): CPU over {elapsed:.0f} s, no sockets, no requests\n")
        print("| tree | CPU s | % of one core |")
        print("| --- | ---: | ---: |")
        for (name, *_), b, a in zip(started, before, after, strict=True):
            print(f"| {name} | {a - b:.2f} | {100 * (a - b) / elapsed:.2f} |")
    finally:
        stop_all(procs)
        for db in databases:
            asyncio.run(_admin(args.database_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare-tree", default="", help="another checkout (e.g. a git worktree of an earlier commit), "
                    "served beside this one at the same time")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    main(ap.parse_args())
