"""Web app benchmark: the member app's first-load weight, and how fast a live message shows up on
another member's screen.

    python bench/web.py [--messages 50] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                        [--redis-url redis://127.0.0.1:6379/0] [--chromium /usr/bin/chromium]

- weight: a member opens the hub's page, signed in, in a fresh browser (nothing cached): the bytes
  of the HTML, JavaScript and CSS it loads (as sent: the server does not compress; and gzipped, as
  a compressing proxy would send them), and the API answers the first screen needs, apart.
- latency: member A sends ``--messages`` direct messages, one at a time, to member B, whose browser
  shows the conversation; per message, from A's page calling the API to B's page adding it to the
  list (a MutationObserver; both pages read the same clock), and for scale when A's call was
  answered (the write, committed, before any delivery). Median, p90 and max, against a
  baseline measured the same way in the same run: A's page fetching ``/health`` (one request
  round trip), because the machines this runs on are shared and noisy.

Runs `hubwire serve` (the embedded default unless ``--database-url``; with ``--redis-url`` two
instances, A on one and B on the other) in a temporary folder, and Debian's Chromium through
Playwright (``pip install -e '.[test]'``). Prints the figures; stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from persistence.db import create_engine  # noqa: E402
from tests.support.servers import ServerProcess, free_port  # noqa: E402
from tests.support.web import CHROMIUM_ARGS, JSONAPI, doc, make_web_world, member_page  # noqa: E402

ASSET_TYPES = {"document", "script", "stylesheet"}


PREFIX = f"hubwire-bench-{secrets.token_hex(3)}:"  # the instances share their Redis keys and channels


def start(tmp: Path, name: str, database_url: str, redis_url: str | None) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(tmp / "data"), HUBWIRE_DATABASE_URL=database_url, HUBWIRE_LOG_LEVEL="WARNING",
               HUBWIRE_PASSWORD_HASHING="fast", HUBWIRE_SECRET_KEY="bench-web-" + "z" * 40,
               HUBWIRE_REDIS_PREFIX=PREFIX, HUBWIRE_RATE_LIMIT_PER_KEY="0", HUBWIRE_RATE_LIMIT_PER_IP="0")
    if redis_url:
        env["HUBWIRE_REDIS_URL"] = redis_url
    srv = ServerProcess(env, free_port(), tmp / f"{name}.log")
    srv.wait_ready(60)
    return srv


async def page_weight(browser: Any, base: str, world: Any) -> dict[str, Any]:
    """Bytes of every response of a first load, by kind."""
    context = await browser.new_context()
    sizes: dict[str, list[tuple[str, int, int]]] = {}
    done: list[Any] = []

    async def record(response: Any) -> None:
        kind = response.request.resource_type
        try:
            body = await response.body()
        except Exception:
            return
        sizes.setdefault(kind, []).append((response.url, len(body), len(gzip.compress(body, 9))))

    page_ready = asyncio.get_running_loop().create_future()

    def on_response(response: Any) -> None:
        done.append(asyncio.ensure_future(record(response)))

    context.on("response", on_response)
    key = f"hubwire.member.{world.hub_id}"
    await context.add_init_script(f"sessionStorage.setItem('{key}', '{world.members['Ada'].token}')")
    page = await context.new_page()
    await page.goto(f"{base}/hubs/{world.slug}")
    await page.locator("body[data-realtime='open']").wait_for()
    await page.get_by_role("heading", name="Spaces").wait_for()
    await page.wait_for_load_state("networkidle")
    await asyncio.gather(*done)
    page_ready.cancel()
    await context.close()
    return sizes


async def latency(browser: Any, world: Any, base_a: str, base_b: str,
                  n: int) -> tuple[list[float], list[float], list[float]]:
    ada, bob = world.members["Ada"], world.members["Bob"]
    conv = (await world.member_api(ada, "POST", "/conversations", {"data": {"type": "conversations", "attributes": {
        "participant_ids": [bob.contact_id]}}}))["data"]["id"]
    a = await member_page(browser, base_a, world, ada, path=f"#/messages/{conv}")
    b = await member_page(browser, base_b, world, bob, path=f"#/messages/{conv}")
    await b.locator("ol.messages").wait_for(state="attached")
    await b.evaluate("""() => {
        window.arrivals = {};
        new MutationObserver((records) => {
            const now = performance.timeOrigin + performance.now();
            for (const r of records) for (const li of r.addedNodes) {
                const text = li.querySelector && li.querySelector('.pre');
                if (text) window.arrivals[text.textContent] = now;
            }
        }).observe(document.querySelector('ol.messages'), { childList: true });
    }""")
    send = """async ([path, token, body]) => {
        const t0 = performance.timeOrigin + performance.now();
        const r = await fetch(path, { method: 'POST', headers: { Authorization: 'Bearer ' + token,
            'Content-Type': 'application/vnd.api+json' },
            body: JSON.stringify({ data: { type: 'messages', attributes: { body } } }) });
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return [t0, performance.timeOrigin + performance.now()];
    }"""
    path = f"/api/v1/hub/{world.hub_id}/conversations/{conv}/messages"
    delays, answers = [], []
    for i in range(n):
        text = f"message {i} {secrets.token_hex(4)}"
        t0, t1 = await a.evaluate(send, [path, ada.token, text])
        arrived = await b.wait_for_function("(t) => window.arrivals[t]", arg=text, timeout=30_000)
        delays.append(await arrived.json_value() - t0)
        answers.append(t1 - t0)
    rtt = """async () => { const t0 = performance.now(); await fetch('/health', { cache: 'no-store' });
                          return performance.now() - t0; }"""
    baseline = [await a.evaluate(rtt) for _ in range(n)]
    await a.context.close()
    await b.context.close()
    return delays, answers, baseline


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--database-url", help="a PostgreSQL server to make a throwaway database on (default: SQLite)")
    ap.add_argument("--redis-url", help="Redis: two instances, the members on different ones")
    ap.add_argument("--chromium", default=os.environ.get("HUBWIRE_TEST_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="hubwire-bench-web-") as folder:
        tmp = Path(folder)
        dbname = None
        if args.database_url:
            dbname = f"hubwire_bench_{secrets.token_hex(4)}"
            engine = create_engine(args.database_url)
            async with engine.connect() as conn:
                await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text(f'CREATE DATABASE "{dbname}"'))
            await engine.dispose()
            database_url = args.database_url.rsplit("/", 1)[0] + "/" + dbname
        else:
            database_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        servers = [start(tmp, "a", database_url, args.redis_url)]
        if args.redis_url:
            servers.append(start(tmp, "b", database_url, args.redis_url))
        try:
            base_a, base_b = servers[0].base, servers[-1].base
            world = await make_web_world(base_a, "Ada", "Bob")
            async with httpx.AsyncClient(base_url=base_a) as http:  # 50 messages in a minute: lift the DM limit
                r = await http.patch(world.hub_url(), headers={**world.staff, **JSONAPI}, json=doc("hubs", {
                    "settings": {"community": {"message_rate_limit": {"limit": 10_000, "window_seconds": 60}}}}))
                assert r.status_code == 200, r.text
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                sizes = await page_weight(browser, base_a, world)
                delays, answers, baseline = await latency(browser, world, base_a, base_b, args.messages)
                await browser.close()
        finally:
            for srv in servers:
                srv.stop()
            if dbname:
                engine = create_engine(args.database_url)
                async with engine.connect() as conn:
                    await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                        sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
                await engine.dispose()

    backend = ("postgresql" if args.database_url else "sqlite") + (" + redis, 2 instances" if args.redis_url else ", 1 instance")
    print(f"Member app, first load (signed in, nothing cached; {backend})")
    total = gz = 0
    for kind in ("document", "script", "stylesheet"):
        for url, raw, packed in sizes.get(kind, []):
            total, gz = total + raw, gz + packed
            print(f"  {kind:<10} {url.split('/', 3)[-1]:<52} {raw:>7} B  (gzip {packed:>6} B)")
    print(f"  HTML + JS + CSS: {total} B ({total / 1024:.1f} KiB); gzipped {gz} B ({gz / 1024:.1f} KiB)")
    api = [(u, r) for k, v in sizes.items() if k not in ASSET_TYPES for u, r, _ in v]
    print(f"  API answers for the first screen: {len(api)} requests, {sum(r for _, r in api)} B")
    print(f"\nLive message, A's API call -> on B's screen ({len(delays)} messages)")
    for name, values in (("message shown on B's screen", delays), ("A's POST answered (for scale)", answers),
                         ("baseline: GET /health round trip", baseline)):
        print(f"  {name:<36} p50 {statistics.median(values):7.1f} ms   p90 {pct(values, 0.9):7.1f} ms   max {max(values):7.1f} ms")
    print(f"  p50 ratio: {statistics.median(delays) / statistics.median(baseline):.1f} x the baseline")


if __name__ == "__main__":
    asyncio.run(main())
