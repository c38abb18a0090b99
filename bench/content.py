"""Content benchmark: ``H/content`` for a large tree, and a large file served with Range requests.

    .venv/bin/python bench/content.py [--nodes 500] [--requests 200] [--file-mb 64] [--range-mb 4]

Runs ``hubwire serve`` (the embedded default: SQLite, local disk) in a temporary folder, and, for
the file, a baseline in the same run: a plain static-file route (Litestar's static files router
under uvicorn, no auth, no database) serving the very same bytes from disk.

- tree: a course of ``--nodes`` nodes (modules of 10 lessons, a drip rule on every other module,
  an enrollment rule on the course); one member fetches ``H/content`` ``--requests`` times, one at
  a time: p50 / p99 / max, beside ``GET /health`` measured the same way (one request round trip).
- file: a ``--file-mb`` MiB file uploaded through ``T/files``; then read whole and in
  ``--range-mb`` MiB ranges, through ``T/files/{id}/download`` and through a member's signed link,
  and from the static route (whole; in ranges too when it answers them): MB/s each, and the ratio
  to the static route's whole-file rate.
Prints the figures; stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from tests.support.servers import ServerProcess, free_port  # noqa: E402

JSONAPI = {"Content-Type": "application/vnd.api+json"}

STATIC_APP = '''
import os
from litestar import Litestar
from litestar.static_files import create_static_files_router
app = Litestar([create_static_files_router(path="/static", directories=[os.environ["BENCH_STATIC_DIR"]])])
'''


def doc(type_: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": type_, "attributes": attrs}}


def timed(client: httpx.Client, url: str, n: int, headers: dict[str, str] | None = None) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text[:300]
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def throughput(client: httpx.Client, url: str, size: int, chunk: int | None, headers: dict[str, str],
               repeat: int = 3) -> float:
    """MB/s reading the whole file ``repeat`` times, in one request or in ranges of ``chunk`` bytes."""
    t = time.perf_counter()
    for _ in range(repeat):
        if chunk is None:
            with client.stream("GET", url, headers=headers) as r:
                got = sum(len(b) for b in r.iter_bytes())
            assert got == size, (got, size)
        else:
            got = 0
            for start in range(0, size, chunk):
                end = min(size, start + chunk) - 1
                r = client.get(url, headers={**headers, "Range": f"bytes={start}-{end}"})
                assert r.status_code == 206, r.status_code
                got += len(r.content)
            assert got == size
    return size * repeat / (time.perf_counter() - t) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--file-mb", type=int, default=64)
    ap.add_argument("--range-mb", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
        env.update(HUBWIRE_DATA_DIR=str(tmp / "data"), HUBWIRE_LOG_LEVEL="WARNING", HUBWIRE_PASSWORD_HASHING="fast",
                   HUBWIRE_SECRET_KEY="bench-content-" + "z" * 40)
        srv = ServerProcess(env, free_port(), tmp / "server.log")
        static_port = free_port()
        static_dir = tmp / "static"
        static_dir.mkdir()
        (tmp / "static_app.py").write_text(STATIC_APP)
        static = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp),
                                   "--port", str(static_port), "--log-level", "warning", "static_app:app"],
                                  env={**os.environ, "PYTHONPATH": str(tmp), "BENCH_STATIC_DIR": str(static_dir)},
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        sys.argv = sys.argv[:1]
        try:
            srv.wait_ready(60)
            run(srv.base, f"http://127.0.0.1:{static_port}", static_dir, args)
        finally:
            srv.stop()
            static.terminate()
            static.wait(10)


def run(base: str, static_base: str, static_dir: Path, args: argparse.Namespace) -> None:
    c = httpx.Client(base_url=base, timeout=120)
    r = c.post("/api/v1/auth/register", json={"email": "bench@example.test", "password": "correct horse battery"})
    staff = {"Authorization": f"Bearer {r.json()['access_token']}"}
    team = r.json()["user"]["personal_team_id"] if "personal_team_id" in r.json()["user"] else \
        c.get("/api/v1/teams", headers=staff).json()["data"][0]["id"]
    t = f"/api/v1/teams/{team}"
    hub = c.post(f"{t}/hubs", json=doc("hubs", {"name": "Bench"}), headers={**staff, **JSONAPI}).json()["data"]["id"]
    w = {**staff, **JSONAPI}

    def node(title: str, parent: str | None, node_type: str) -> str:
        r = c.post(f"{t}/hubs/{hub}/content", headers=w, json=doc("content_nodes", {
            "title": title, "parent_id": parent, "node_type": node_type, "status": "published",
            "body": f"<p>{title} " + "lorem ipsum " * 40 + "</p>"}))
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    def rule(target: str, *conditions: dict[str, Any]) -> None:
        r = c.post(f"{t}/hubs/{hub}/access-rules", headers=w, json=doc("access_rules", {
            "target_type": "content_node", "target_id": target, "conditions": list(conditions)}))
        assert r.status_code == 201, r.text

    started = time.perf_counter()
    course = node("Course", None, "course")
    count, m = 1, 0
    enrolled = {"condition_type": "has_entitlement", "condition_data": {"kind": "content_enrollment",
                                                                        "target_id": course}}
    rule(course, enrolled)
    while count < args.nodes:
        module = node(f"Module {m}", course, "module")
        count += 1
        if m % 2:
            rule(module, enrolled, {"condition_type": "days_since_join", "condition_data": {"days": 7 * m}})
        for i in range(min(10, args.nodes - count)):
            node(f"Lesson {m}.{i}", module, "lesson")
            count += 1
        m += 1
    build = time.perf_counter() - started
    r = c.post(f"{t}/hubs/{hub}/memberships", headers=w, json=doc("hub_memberships", {"email": "m@example.test"}))
    contact = r.json()["data"]["attributes"]["contact_id"]
    c.post(f"{t}/hubs/{hub}/entitlements", headers=w, json=doc("entitlements", {
        "contact_id": contact, "kind": "content_enrollment", "target_id": course}))
    r = c.post(f"{t}/hubs/{hub}/member-tokens", headers=w, json=doc("member_tokens", {"contact_id": contact}))
    member = {"Authorization": f"Bearer {r.json()['data']['attributes']['access_token']}"}
    tree = c.get(f"/api/v1/hub/{hub}/content", headers=member).json()
    locked = sum(1 for n in tree["data"] if n["attributes"]["locked"])
    timed(c, f"/api/v1/hub/{hub}/content", 10, member)  # warm
    health = timed(c, "/health", args.requests)
    tree_ms = timed(c, f"/api/v1/hub/{hub}/content", args.requests, member)
    print(f"tree: {len(tree['data'])} nodes ({locked} locked for the member), built in {build:.1f}s over the API; "
          f"response {len(c.get(f'/api/v1/hub/{hub}/content', headers=member).content) / 1024:.0f} KiB")
    print("| request | p50 ms | p99 ms | max ms | p50 × /health |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, v in (("GET /health (baseline)", health), (f"GET H/content ({len(tree['data'])} nodes)", tree_ms)):
        print(f"| {name} | {pct(v, .5):.1f} | {pct(v, .99):.1f} | {max(v):.1f} | "
              f"{pct(v, .5) / pct(health, .5):.1f} |")

    size = args.file_mb * 1024 * 1024
    blob = b"%PDF-1.7\n" + os.urandom(size - 9)
    (static_dir / "big.pdf").write_bytes(blob)

    def stream() -> Any:
        for i in range(0, size, 1 << 20):
            yield blob[i:i + (1 << 20)]

    boundary = "benchboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n").encode()

    def body() -> Any:
        yield head
        yield from stream()
        tail = (f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="hub_id"\r\n\r\n'
                f"{hub}\r\n--{boundary}--\r\n")
        yield tail.encode()

    started = time.perf_counter()
    r = c.post(f"{t}/files", content=body(),
               headers={**staff, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    upload_s = time.perf_counter() - started
    assert r.status_code == 201, r.text
    fid = r.json()["data"]["id"]
    link = c.get(f"/api/v1/hub/{hub}/files/{fid}/link", headers=member).json()["data"]["attributes"]["url"]
    s = httpx.Client(base_url=static_base, timeout=120)
    for _ in range(50):
        try:
            if s.get("/static/big.pdf", headers={"Range": "bytes=0-0"}).status_code in (200, 206):
                break
        except httpx.TransportError:
            time.sleep(0.1)
    chunk = args.range_mb * 1024 * 1024
    print(f"\nfile: {args.file_mb} MiB, uploaded in {upload_s:.2f}s ({size / upload_s / 1e6:.0f} MB/s, streamed)")
    print(f"| route | whole MB/s | × static | {args.range_mb} MiB ranges MB/s | × static whole |")
    print("| --- | ---: | ---: | ---: | ---: |")
    static_whole = throughput(s, "/static/big.pdf", size, None, {})
    ranged_ok = s.get("/static/big.pdf", headers={"Range": "bytes=0-9"}).status_code == 206
    static_ranges = throughput(s, "/static/big.pdf", size, chunk, {}) if ranged_ok else float("nan")
    ranges_cell = f"{static_ranges:.0f}" if ranged_ok else "(no Range support)"
    print(f"| static files router (baseline) | {static_whole:.0f} | 1.00 | {ranges_cell} | "
          f"{static_ranges / static_whole if ranged_ok else float('nan'):.2f} |")
    for name, url, headers in (("T/files/{id}/download (staff token)", f"{t}/files/{fid}/download", staff),
                               ("signed member link", link, {})):
        whole = throughput(c, url, size, None, headers)
        ranges = throughput(c, url, size, chunk, headers)
        print(f"| {name} | {whole:.0f} | {whole / static_whole:.2f} | {ranges:.0f} | {ranges / static_whole:.2f} |")


if __name__ == "__main__":
    main()
