"""REST throughput: Hubwire's list, feed, post and access-check routes against a bare Litestar JSON
route, in one run, with a real HTTP load generator (autocannon, from npm: bench/rest/).

    .venv/bin/python bench/rest.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                   [--redis-url redis://127.0.0.1:6379/0] [--duration 10] [--runs 3] [--connections 20] [--contacts 10000]
                                   [--compare-tree DIR] [--floor] [--profile DIR] [--cpu N]

Starts on 127.0.0.1 and stops at the end (also on error): ``hubwire serve`` (SQLite in a temporary
folder, or a throwaway PostgreSQL database ``hubwire_bench_<hex>`` with --database-url, dropped at
the end) and ``bench/rest/baseline_app.py`` with the same uvicorn settings. Seeds a team with
``--contacts`` team contacts (inserted in bulk) and an API key with ``contacts:read``; a hub with an
open space, a member and a moderator, and 60 discussions (44 of them with reactions). Each route is
loaded for ``--duration`` seconds with ``--connections`` keep-alive connections, the routes
interleaved, ``--runs`` times; printed: requests/s (median), × the bare route's in the same run,
p50/p99 latency, non-2xx. Not part of the test suite; tests/scale/test_rest_statements.py asserts
the SQL statements per request.
``--floor`` adds bench/rest/floor_app.py: the same contact page read by a bare Litestar route on raw
asyncpg (PostgreSQL) and on SQLAlchemy — what any route reading a page from the database costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
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
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.models.crm import Contact, TeamContact

JSONAPI = {"Content-Type": "application/vnd.api+json"}
PROCS: list[subprocess.Popen[bytes]] = []


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(cmd: list[str], env: dict[str, str], logfile: Path, **kw: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=logfile.open("wb"), stderr=subprocess.STDOUT, **kw)
    PROCS.append(proc)
    return proc


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate ``procs``, then wait for each (15 s, then kill)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_http(url: str, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{logfile.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up:\n{logfile.read_text()[-3000:]}")


def doc(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attrs}}


class World:
    """A team with contacts and an API key; a hub with an open space, a member, a moderator and
    discussions."""

    def __init__(self, base: str) -> None:
        http = httpx.Client(base_url=base, timeout=30.0)
        r = http.post("/api/v1/auth/register", json={"email": f"bench-{uuid.uuid4().hex[:10]}@example.test",
                                                      "password": "bench-password-" + secrets.token_hex(8)})
        assert r.status_code == 201, r.text
        staff = {"Authorization": f"Bearer {r.json()['access_token']}", **JSONAPI}
        self.team_id = http.get("/api/v1/teams", headers=staff).json()["data"][0]["id"]
        t = f"/api/v1/teams/{self.team_id}"
        r = http.post(f"{t}/api-keys", headers=staff, json={"name": "bench", "scopes": ["contacts:read"]})
        assert r.status_code == 201, r.text
        self.key = r.json()["secret"]
        r = http.post(f"{t}/hubs", headers=staff, json=doc("hubs", {"name": "Bench hub"}))
        assert r.status_code == 201, r.text
        self.hub_id = r.json()["data"]["id"]
        th = f"{t}/hubs/{self.hub_id}"
        r = http.post(f"{th}/spaces", headers=staff, json=doc("spaces", {"name": "Lounge"}))
        assert r.status_code == 201, r.text
        self.space_id = r.json()["data"]["id"]
        self.member = self._member(http, th, staff, "member")
        self.moderator = self._member(http, th, staff, "moderator")
        h = f"/api/v1/hub/{self.hub_id}"
        for i in range(60):
            r = http.post(f"{h}/spaces/{self.space_id}/discussions", headers=self.auth(self.moderator),
                          json=doc("discussions", {"title": f"Topic {i}", "body": "Hello " * 20}))
            assert r.status_code == 201, r.text
            # reactions as a feed has them: most discussions one or two, some none
            d = r.json()["data"]["id"]
            for who, emoji, every in ((self.moderator, ":+1:", 2), (self.member, ":tada:", 3), (self.member, ":+1:", 5)):
                if i % every == 0:
                    r = http.put(f"{h}/discussions/{d}/reactions/{emoji}", headers=self.auth(who))
                    assert r.status_code == 200, r.text
        http.close()

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **JSONAPI}

    def _member(self, http: httpx.Client, th: str, staff: dict[str, str], role: str) -> str:
        r = http.post(f"{th}/memberships", headers=staff,
                      json=doc("hub_memberships", {"email": f"m-{uuid.uuid4().hex[:12]}@example.test", "role": role}))
        assert r.status_code == 201, r.text
        contact_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"{th}/member-tokens", headers=staff, json=doc("member_tokens", {"contact_id": contact_id}))
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["attributes"]["access_token"])


async def seed_contacts(db_url: str, team_id: str, n: int) -> None:
    engine = create_async_engine(db_url)
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    try:
        for start in range(0, n, 1000):
            contacts = [{"id": uuid.uuid4(), "email": f"c{i}-{run}@example.test", "first_name": f"First{i}",
                         "last_name": "Bench", "created_at": now, "updated_at": now}
                        for i in range(start, min(n, start + 1000))]
            async with engine.begin() as conn:
                await conn.execute(sa.insert(Contact), contacts)
                await conn.execute(sa.insert(TeamContact), [
                    {"id": uuid.uuid4(), "team_id": uuid.UUID(team_id), "contact_id": c["id"], "first_name": c["first_name"],
                     "last_name": "Bench", "lifecycle_stage": "lead", "source": "bench", "created_at": now,
                     "updated_at": now, "deleted_at": None} for c in contacts])
        # A bulk load, then fresh planner statistics, as autovacuum would gather within a minute in
        # production: without them PostgreSQL plans the page query for an empty table (a bitmap scan
        # and a sort of the team's 10,000 rows, ~4 ms of database CPU per page instead of 0.1 ms),
        # and the run would measure stale statistics rather than the route.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()


def autocannon(url: str, args: Any, *, method: str = "GET", headers: dict[str, str] | None = None,
               body: str | None = None) -> dict[str, Any]:
    cmd = [str(HERE / "rest" / "node_modules" / ".bin" / "autocannon"), "--json", "-c", str(args.connections),
           "-d", str(args.duration), "-m", method]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}={v}"]
    if body is not None:
        cmd += ["-b", body]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=args.duration + 120, check=True)
    rep = json.loads(out.stdout)
    return {"rps": rep["requests"]["average"], "p50": rep["latency"]["p50"], "p99": rep["latency"]["p99"],
            "non2xx": rep["non2xx"] + rep["errors"], "total": rep["requests"]["total"]}


def py_spy(folder: str, name: str, pid: int, *, duration: float = 0, rate: int = 100) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` (raw, collapsed stacks) into ``folder``, one file per route: for
    ``duration`` s, or until sent SIGINT."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / (name.split(" (")[0].replace("/", "_").replace(" ", "_")[:40] + ".txt")
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw",
           "--rate", str(rate), "-o", str(out)]
    if duration:
        cmd += ["--duration", str(int(duration))]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(routes: list[tuple[str, dict[str, Any]]], args: Any, pids: dict[int, int]) -> None:
    """``--cpu N``: each Hubwire route's server CPU per request, from N requests sent one at a time
    (one keep-alive connection), the servers' own CPU time read from /proc; rounds interleaved,
    median of ``--runs``. A noisy shared box moves requests/s far more than CPU per request, so a
    change is best judged by this figure against its base (``--compare-tree``)."""
    measured = [(name, kw, pid) for name, kw in routes if name.startswith(("GET", "POST"))
                for port, pid in pids.items() if f":{port}/" in kw["url"]]
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in measured}
    with httpx.Client(timeout=30) as http:
        # with --profile, a first round under py-spy, not counted: sampling at 1,000/s stops the
        # process each time, which inflates its CPU time
        for run in range(-1 if args.profile else 0, args.runs):
            for name, kw, pid in measured:
                spy = None
                if run < 0:
                    if name.endswith("]"):
                        continue
                    spy = py_spy(args.profile, name, pid, rate=1000)
                    time.sleep(1)  # py-spy attaches
                before = cpu_seconds(pid)
                for _ in range(args.cpu):
                    r = http.request(kw.get("method", "GET"), kw["url"], headers=kw.get("headers"), content=kw.get("body"))
                    assert r.status_code in (200, 201), r.text[:300]
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
                    spy.wait(60)
                    continue
                cpu[name].append((cpu_seconds(pid) - before) * 1000 / args.cpu)
                log(f"{name}: {cpu[name][-1]:.2f} ms CPU per request")
    print()
    print(f"Server CPU per request: {args.cpu} sequential requests per route and round, median of {args.runs} "
          f"round(s), interleaved")
    print()
    print("| route | ms CPU per request | rounds |")
    print("| --- | ---: | --- |")
    for name, values in cpu.items():
        print(f"| {name} | {statistics.median(values):.2f} | {' / '.join(f'{v:.2f}' for v in values)} |")
    for name, values in cpu.items():
        theirs = cpu.get(next((n for n in cpu if n.startswith(name + " [")), ""), [])
        if theirs:
            print(f"- {name}: {statistics.median(values):.2f} vs {statistics.median(theirs):.2f} ms = "
                  f"{statistics.median(values) / statistics.median(theirs):.2f}x of the other tree's CPU")


def main(args: Any) -> None:
    if not (HERE / "rest" / "node_modules" / "autocannon").exists():
        log("npm install (bench/rest) ...")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE / "rest", check=True, timeout=300)
    tmp = Path(tempfile.mkdtemp(prefix="hubwire-rest-"))
    db_name = None
    try:
        if args.database_url:
            db_name = f"hubwire_bench_{secrets.token_hex(4)}"
            admin = create_async_engine(args.database_url, isolation_level="AUTOCOMMIT")

            async def create() -> None:
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
                await admin.dispose()
            asyncio.run(create())
            db_url = args.database_url.rsplit("/", 1)[0] + "/" + db_name
        else:
            db_url = f"sqlite+aiosqlite:///{tmp / 'hubwire.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
        hw_env = dict(env, HUBWIRE_DATA_DIR=str(tmp / "data"), HUBWIRE_DATABASE_URL=db_url, HUBWIRE_LOG_LEVEL="WARNING",
                      HUBWIRE_PASSWORD_HASHING="fast", HUBWIRE_SECRET_KEY="bench-rest-secret-" + "r" * 40,
                      HUBWIRE_ACCESS_TOKEN_TTL="7200",
                      # the limiter still counts every request, but never refuses one: 429s would be
                      # measured instead of the routes
                      HUBWIRE_RATE_LIMIT_PER_KEY=str(10**9), HUBWIRE_RATE_LIMIT_PER_IP=str(10**9))
        if args.redis_url:  # the broker, rate limits and presence in Redis, as a deployment runs them
            hw_env["HUBWIRE_REDIS_URL"] = args.redis_url
        hw_port, bl_port = free_port(), free_port()
        # `python -m server.cli` from the tree itself (PYTHONPATH): the venv's `hubwire` script would
        # import whatever checkout the editable install points at, not necessarily this one.
        proc = spawn([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(hw_port)],
                     dict(hw_env, PYTHONPATH=str(ROOT)), tmp / "hubwire.log", cwd=ROOT)
        hw_pid = proc.pid
        wait_http(f"http://127.0.0.1:{hw_port}/health", proc, tmp / "hubwire.log")
        other_port = 0
        if args.compare_tree:  # the same routes served by another checkout, on the same database
            other = Path(args.compare_tree).resolve()
            other_port = free_port()
            proc = spawn([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port",
                          str(other_port)], dict(hw_env, PYTHONPATH=str(other)), tmp / "other.log", cwd=other)
            other_pid = proc.pid
            wait_http(f"http://127.0.0.1:{other_port}/health", proc, tmp / "other.log")
        proc = spawn([sys.executable, str(HERE / "rest" / "baseline_app.py"), "--port", str(bl_port)], env,
                     tmp / "baseline.log", cwd=HERE / "rest")
        wait_http(f"http://127.0.0.1:{bl_port}/json", proc, tmp / "baseline.log")
        floor_port = 0
        if args.floor:  # what one page read costs a bare route: the driver alone, SQLAlchemy alone
            floor_port = free_port()
            proc = spawn([sys.executable, str(HERE / "rest" / "floor_app.py"), "--port", str(floor_port),
                          "--database-url", db_url], env, tmp / "floor.log", cwd=HERE / "rest")
            wait_http(f"http://127.0.0.1:{floor_port}/orm/contacts?team_id={uuid.uuid4()}", proc, tmp / "floor.log")
        base = f"http://127.0.0.1:{hw_port}"
        world = World(base)
        log(f"seeding {args.contacts} contacts ...")
        asyncio.run(seed_contacts(db_url, world.team_id, args.contacts))
        h = f"{base}/api/v1/hub/{world.hub_id}"
        post_body = json.dumps(doc("discussions", {"title": "Bench post", "body": "Hello " * 20}))
        routes: list[tuple[str, dict[str, Any]]] = [
            ("bare Litestar JSON route (baseline)", {"url": f"http://127.0.0.1:{bl_port}/json"}),
            ("GET T/contacts?page[size]=50 (10,000 contacts, API key)",
             {"url": f"{base}/api/v1/teams/{world.team_id}/contacts?page[size]=50", "headers": World.auth(world.key)}),
            ("GET H/spaces/{id}/discussions (member feed)",
             {"url": f"{h}/spaces/{world.space_id}/discussions", "headers": World.auth(world.member)}),
            ("POST H/spaces/{id}/discussions (moderator)",
             {"url": f"{h}/spaces/{world.space_id}/discussions", "method": "POST", "body": post_body,
              "headers": World.auth(world.moderator)}),
            ("GET H/access/check (space, post)",
             {"url": f"{h}/access/check?target_type=space&target_id={world.space_id}&action=post",
              "headers": World.auth(world.member)}),
        ]
        if floor_port:
            fl = f"http://127.0.0.1:{floor_port}"
            floor = [("floor: bare route + the contact page on SQLAlchemy (one session, one statement)",
                      {"url": f"{fl}/orm/contacts?team_id={world.team_id}"})]
            if args.database_url:
                floor.insert(0, ("floor: bare route + the contact page on raw asyncpg (one statement)",
                                 {"url": f"{fl}/driver/contacts?team_id={world.team_id}"}))
            routes = routes[:1] + floor + routes[1:]
        if other_port:
            tag = Path(args.compare_tree).name
            routes = [r for name, kw in routes for r in (((name, kw),) if name.startswith(("bare", "floor")) else
                ((name, kw), (f"{name} [{tag}]", dict(kw, url=kw["url"].replace(f":{hw_port}/", f":{other_port}/")))))]
        for name, kw in routes:  # warm every route once (caches, connections) and check it answers
            r = httpx.request(kw.get("method", "GET"), kw["url"], headers=kw.get("headers"), content=kw.get("body"))
            assert r.status_code in (200, 201), f"{name}: {r.status_code} {r.text[:300]}"
        if args.cpu:
            cpu_per_request(routes, args, {hw_port: hw_pid, **({other_port: other_pid} if other_port else {})})
            return
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in routes}
        for run in range(args.runs):
            for name, kw in routes:
                spy = None
                if args.profile and run == 0 and name.startswith(("GET", "POST")) and not name.endswith("]"):
                    spy = py_spy(args.profile, name, hw_pid, duration=args.duration)
                res = autocannon(kw["url"], args, method=kw.get("method", "GET"), headers=kw.get("headers"),
                                 body=kw.get("body"))
                if spy is not None:
                    spy.wait(60)
                results[name].append(res)
                log(f"run {run + 1}: {name}: {res['rps']:.0f} req/s, p50 {res['p50']} ms, p99 {res['p99']} ms, "
                    f"non-2xx {res['non2xx']}")
        base_rps = statistics.median(r["rps"] for r in results[routes[0][0]])
        print()
        print(f"REST throughput: autocannon, {args.connections} connections, {args.duration:g} s per route, routes "
              f"interleaved, median of {args.runs} run(s); one `hubwire serve` process "
              f"({'PostgreSQL' if args.database_url else 'SQLite'}); shared machine, other work running")
        print()
        print("| route | requests/s | × bare route | p50 ms | p99 ms | non-2xx |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, _ in routes:
            rs = results[name]
            rps = statistics.median(r["rps"] for r in rs)
            print(f"| {name} | {rps:,.0f} | {rps / base_rps:.2f} | {statistics.median(r['p50'] for r in rs):.1f} | "
                  f"{statistics.median(r['p99'] for r in rs):.1f} | {sum(r['non2xx'] for r in rs)} |")
        floors = [name for name, _ in routes if name.startswith("floor")]
        if floors:
            contacts = statistics.median(r["rps"] for r in results[routes[len(floors) + 1][0]])
            print()
            print("T/contacts against the floors (requests/s, ratio of the medians):")
            for name in floors:
                rps = statistics.median(r["rps"] for r in results[name])
                print(f"- {name}: {rps:,.0f}; T/contacts {contacts:,.0f} = {contacts / rps:.2f}x of it")
        if other_port:
            print()
            print(f"This tree against {args.compare_tree} (requests/s, ratio of the medians):")
            for name, _ in routes:
                if f"{name} [{tag}]" in results:
                    ours = statistics.median(r["rps"] for r in results[name])
                    theirs = statistics.median(r["rps"] for r in results[f"{name} [{tag}]"])
                    print(f"- {name}: {ours:,.0f} vs {theirs:,.0f} = {ours / theirs:.2f}x")
    finally:
        stop_all(PROCS)
        if db_name:
            async def drop() -> None:
                admin = create_async_engine(args.database_url, isolation_level="AUTOCOMMIT")
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                await admin.dispose()
            asyncio.run(drop())
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="", help="run the Hubwire servers on this Redis (rate limits, broker), "
                    "as a deployment of several instances does; default: the embedded in-process ones")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--contacts", type=int, default=10_000)
    ap.add_argument("--compare-tree", default="", help="another checkout of Hubwire (e.g. a git worktree of an "
                    "earlier commit): its server runs beside this one on the same database, each route loaded on "
                    "both in turn, so a change is measured against its base in one run")
    ap.add_argument("--floor", action="store_true", help="also load bench/rest/floor_app.py: a bare Litestar "
                    "route reading the same contact page on raw asyncpg (PostgreSQL) and on SQLAlchemy, the floor "
                    "of any route that reads a page from the database")
    ap.add_argument("--cpu", type=int, default=0, metavar="N", help="instead of the load: each route's server "
                    "CPU per request over N sequential requests (from /proc), per round, median of --runs")
    ap.add_argument("--profile", default="", help="folder: py-spy record (raw, collapsed stacks) of the hubwire "
                    "process during each route of run 1 (with --cpu: of an extra, uncounted round of sequential requests, 1,000 "
                    "samples/s); py-spy from PyPI")
    main(ap.parse_args())
