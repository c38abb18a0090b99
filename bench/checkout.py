"""Checkout and provider-event benchmark: free checkouts per second and provider events applied per
second by one worker, beside a plain JSON:API read route measured in the same run.

    python bench/checkout.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                             [--requests 300] [--concurrency 8] [--events 1000]

The app runs in process (Litestar's test client: the full middleware, dependencies, unit of work
and after-commit events, without a socket), on a throwaway SQLite file or a throwaway database on
the given PostgreSQL server (dropped afterwards).

- baseline: ``GET T/products/{id}`` by staff (a plain JSON:API read: auth, team check, one row);
- checkout: ``POST H/checkout`` of a free price by a member (order, redemption-free, paid at once,
  a ``hub_access`` entitlement granted, ``order.created`` + ``order.paid`` after commit);
- each timed one request at a time (p50/p99) and with ``--concurrency`` in flight (requests/s);
- provider events: ``--events`` ``checkout.session.completed`` events for pending orders stored as
  the webhook route stores them, then one worker (``ProviderEventWorker.run_once`` in a loop,
  batch 50) applies them; events/s. Which handlers run is whatever ``domain/commerce/
  provider_event_handlers.py`` holds in this checkout: the outcome counts are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

from domain.commerce.provider_event_handlers import HANDLERS  # noqa: E402
from domain.commerce.provider_event_worker import ProviderEventWorker  # noqa: E402
from domain.commerce.provider_events import ReceivedEvent, record_provider_event  # noqa: E402
from persistence.db import create_engine  # noqa: E402
from persistence.models import Order  # noqa: E402
from server.app import create_app  # noqa: E402
from server.settings import Settings  # noqa: E402

JSONAPI = {"Content-Type": "application/vnd.api+json"}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def doc(type_: str, attrs: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type_, "attributes": attrs}
    if id:
        data["id"] = id
    return {"data": data}


async def ok(response: Any, status: int = 200) -> dict[str, Any]:
    if response.status_code != status:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return dict(response.json())


async def setup(c: Any) -> dict[str, Any]:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    tokens = await ok(await c.post("/api/v1/auth/register", json={"email": email, "password": "bench-password-123"}),
                      201)
    staff = {"Authorization": f"Bearer {tokens['access_token']}"}
    team = (await ok(await c.get("/api/v1/teams", headers=staff)))["data"][0]["id"]
    t = f"/api/v1/teams/{team}"
    hub = (await ok(await c.post(f"{t}/hubs", json=doc("hubs", {"name": "Bench"}), headers={**staff, **JSONAPI}),
                    201))["data"]["id"]
    product = (await ok(await c.post(f"{t}/products", json=doc("products", {"name": "Free pass"}),
                                     headers={**staff, **JSONAPI}), 201))["data"]["id"]
    free = (await ok(await c.post(f"{t}/products/{product}/prices", json=doc("prices", {"amount": 0, "currency": "usd"}),
                                  headers={**staff, **JSONAPI}), 201))["data"]["id"]
    paid = (await ok(await c.post(f"{t}/products/{product}/prices", json=doc("prices", {"amount": 900, "currency": "usd"}),
                                  headers={**staff, **JSONAPI}), 201))["data"]["id"]
    await ok(await c.post(f"{t}/products/{product}/deliverables", json=doc("product_deliverables", {
        "type": "hub_access", "target_id": hub}), headers={**staff, **JSONAPI}), 201)
    await ok(await c.post(f"{t}/hubs/{hub}/products", json=doc("hub_product_displays", {"product_id": product}),
                          headers={**staff, **JSONAPI}), 201)
    member = await ok(await c.post(f"{t}/hubs/{hub}/memberships", json=doc("hub_memberships", {
        "email": f"member-{secrets.token_hex(4)}@example.com"}), headers={**staff, **JSONAPI}), 201)
    contact = member["data"]["attributes"]["contact_id"]
    token = await ok(await c.post(f"{t}/hubs/{hub}/member-tokens", json=doc("member_tokens", {"contact_id": contact}),
                                  headers={**staff, **JSONAPI}), 201)
    return {"staff": staff, "t": t, "hub": hub, "product": product, "free": free, "paid": paid,
            "member": {"Authorization": f"Bearer {token['data']['attributes']['access_token']}", **JSONAPI}}


async def measure(label: str, send: Any, n: int, concurrency: int) -> dict[str, float]:
    lat: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        await send()
        lat.append((time.perf_counter() - t0) * 1000)
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await send()
    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    rps = n / (time.perf_counter() - t0)
    return {"p50": statistics.median(lat), "p99": pct(lat, 0.99), "rps": rps, "serial_rps": 1000 / statistics.mean(lat)}


async def main(url: str | None, n: int, concurrency: int, events: int) -> None:
    admin, tmp = None, tempfile.TemporaryDirectory()
    if url is None:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    elif url.startswith("postgresql"):
        admin, name = url, f"hubwire_bench_{secrets.token_hex(4)}"
        eng = create_engine(admin)
        async with eng.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        await eng.dispose()
        url = admin.rsplit("/", 1)[0] + "/" + name
    settings = Settings.from_env({
        "HUBWIRE_DATA_DIR": tmp.name, "HUBWIRE_DATABASE_URL": url, "HUBWIRE_SECRET_KEY": "bench-" + "x" * 40,
        "HUBWIRE_PASSWORD_HASHING": "fast", "HUBWIRE_LOG_LEVEL": "WARNING", "HUBWIRE_AUTO_MIGRATE": "true"})
    app = create_app(settings)
    try:
        async with AsyncTestClient(app, base_url="http://bench.local", timeout=60) as c:
            c.blocking_portal.call(app.state.provider_event_worker.stop)  # one worker: ours, below
            s = await setup(c)
            read_url = f"{s['t']}/products/{s['product']}"
            checkout_url = f"/api/v1/hub/{s['hub']}/checkout"

            async def read() -> None:
                await ok(await c.get(read_url, headers=s["staff"]))

            async def buy() -> None:
                await ok(await c.post(checkout_url, json=doc("checkouts", {"price_id": s["free"]}),
                                      headers=s["member"]), 201)

            for _ in range(20):  # warm up both paths
                await read()
                await buy()
            base = await measure("read", read, n, concurrency)
            chk = await measure("checkout", buy, n, concurrency)
            print(f"database: {app.state.services.engine.dialect.name}; {n} requests each, "
                  f"then {n} with {concurrency} in flight")
            print("| route | p50 ms | p99 ms | req/s (one at a time) | req/s (concurrent) |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for label, m in (("baseline: GET T/products/{id}", base), ("POST H/checkout, free price", chk)):
                print(f"| {label} | {m['p50']:.2f} | {m['p99']:.2f} | {m['serial_rps']:.0f} | {m['rps']:.0f} |")
            print(f"| checkout / baseline | {chk['p50'] / base['p50']:.2f}x | {chk['p99'] / base['p99']:.2f}x | "
                  f"{chk['serial_rps'] / base['serial_rps']:.2f}x | {chk['rps'] / base['rps']:.2f}x |")

            # ---- provider events: pending orders, one checkout.session.completed each -------------
            order_ids = []
            for _ in range(events):
                r = await ok(await c.post(checkout_url, json=doc("checkouts", {"price_id": s["paid"]}),
                                          headers=s["member"]), 201)
                order_ids.append(r["data"]["id"])
            services = app.state.services

            async def store() -> None:
                async with services.context() as ctx:
                    # As if each had gone to a Stripe Checkout Session: a Stripe event names only
                    # orders of its own provider (domain/commerce/matching.py).
                    await ctx.uow.session.execute(sa.update(Order).where(
                        Order.id.in_([uuid.UUID(o) for o in order_ids])).values(provider="stripe"))
                    for oid in order_ids:
                        session = {"id": f"cs_bench_{uuid.uuid4().hex}", "object": "checkout.session",
                                   "mode": "payment", "status": "complete", "payment_status": "paid",
                                   "amount_total": 900, "currency": "usd", "client_reference_id": oid,
                                   "payment_intent": f"pi_bench_{uuid.uuid4().hex}", "customer": None,
                                   "metadata": {"hubwire_order_id": oid, "hubwire_hub_id": s["hub"],
                                                "hubwire_team_id": s["t"].rsplit("/", 1)[1]}}
                        event_id = f"evt_bench_{uuid.uuid4().hex}"
                        payload = json.dumps({"id": event_id, "object": "event", "type": "checkout.session.completed",
                                              "created": int(time.time()), "data": {"object": session}})
                        await record_provider_event(ctx, ReceivedEvent("stripe", event_id, "checkout.session.completed",
                                                                       session["id"], None, payload))

            c.blocking_portal.call(store)
            worker = ProviderEventWorker(services.uow, services.clock, services.access_cache, services.limiter,
                                         HANDLERS, batch_size=50)

            async def drain() -> tuple[float, dict[str, int]]:
                totals: dict[str, int] = {}
                t0 = time.perf_counter()
                while True:
                    report = await worker.run_once()
                    if report.claimed == 0:
                        return time.perf_counter() - t0, totals
                    for k, v in vars(report).items():
                        totals[k] = totals.get(k, 0) + v

            took, totals = c.blocking_portal.call(drain)
            paid_orders = c.blocking_portal.call(count_paid, services, order_ids)
            print(f"\nprovider events: {events} checkout.session.completed applied by one worker in {took:.2f} s: "
                  f"{events / took:.0f} events/s ({took / events * 1000:.2f} ms each); outcomes {totals}; "
                  f"orders paid by them: {paid_orders}")
            print(f"events/s ÷ baseline read req/s (one at a time): {events / took / base['serial_rps']:.2f}x")
    finally:
        if admin is not None:
            eng = create_engine(admin)
            async with eng.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            await eng.dispose()
        tmp.cleanup()


async def count_paid(services: Any, order_ids: list[str]) -> int:
    async with services.uow() as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(Order).where(
            Order.id.in_([uuid.UUID(o) for o in order_ids]), Order.status == "paid")) or 0)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--events", type=int, default=1000)
    a = p.parse_args()
    asyncio.run(main(a.database_url, a.requests, a.concurrency, a.events))
