"""The money loop end to end, nothing faked but Stripe: two `hubwire serve` instances on one
database and (with Redis) one broker, the stand-in delivering signed webhooks to instance A. A
member of a hub gated by `has_entitlement hub_access` buys a monthly price through Stripe Checkout
(H/checkout on A); once the webhooks are delivered, their socket on instance B can subscribe to the
hub's space channel (how long that took is printed), and the team dashboard socket on B sees
``order.paid``. Staff then refund the payment in full through Stripe (on A): the member's space
channel on B is taken away live with ``access_revoked``, and the dashboard sees ``order.refunded``.
Without Redis (the embedded default) both sockets use instance A."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from persistence.db import create_engine
from persistence.models import Subscription
from tests.support.api import doc, w
from tests.support.backends import REDIS_URL
from tests.support.catalog import Shop, open_shop
from tests.support.payments import SECRET_KEY, WEBHOOK_SECRET, StripeStandin
from tests.support.realtime import Client, start_server, stop_server
from tests.support.servers import ServerProcess

HOOK = "/api/v1/webhooks/stripe"
ORIGIN = "https://creator.example"


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module")
async def e2e_database_url(databases: Any) -> str:
    return str(await databases.new("subscriptions_e2e"))  # the instances migrate it as they start


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, e2e_database_url: str, redis_prefix: str,
         standin: StripeStandin) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("subscriptions-e2e")
    env = {"HUBWIRE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "HUBWIRE_STRIPE_SECRET_KEY": SECRET_KEY,
           "HUBWIRE_STRIPE_API_BASE": standin.base}
    a = start_server(tmp, e2e_database_url, redis_prefix + "e2e:", "a", **env)
    b = start_server(tmp, e2e_database_url, redis_prefix + "e2e:", "b", **env) if REDIS_URL else a
    try:
        yield Pair(a, b)
    finally:
        standin.no_webhooks()
        stop_server(a)
        if b is not a:
            stop_server(b)


async def gated_shop(http: httpx.AsyncClient, provider: str = "stripe") -> tuple[Shop, dict[str, Any], dict[str, Any]]:
    """A team (paid through ``provider``) whose hub needs hub access, a space in it, and a monthly
    price that grants that access: (shop, space, price)."""
    shop = await open_shop(http)
    r = await http.patch(shop.t, json=doc("teams", {"payment_provider": provider}, shop.staff.team_id),
                         headers=shop.wh)
    assert r.status_code == 200, r.text
    r = await http.patch(shop.hub.url, json=doc("hubs", {"allowed_redirect_origins": [ORIGIN]}, shop.hub.id),
                         headers=shop.wh)
    assert r.status_code == 200, r.text
    r = await http.post(f"{shop.hub.url}/spaces", json=doc("spaces", {"name": "Members lounge"}), headers=shop.wh)
    assert r.status_code == 201, r.text
    space = dict(r.json()["data"])
    r = await http.post(f"{shop.hub.url}/access-rules", headers=shop.wh, json=doc("access_rules", {
        "target_type": "hub", "target_id": shop.hub.id, "logic_operator": "all",
        "conditions": [{"condition_type": "has_entitlement", "condition_data": {"kind": "hub_access"}}]}))
    assert r.status_code == 201, r.text
    product, price = await shop.on_sale(http, amount=2500, type="recurring", interval="month", interval_count=1)
    await shop.deliverable(http, product["id"], "hub_access", shop.hub.id)
    return shop, space, price


async def first_subscribe_ok(sock: Client, channel: str, timeout: float) -> float:
    """Subscribe again and again until allowed; seconds it took."""
    started = time.monotonic()
    while True:
        answer = await sock.subscribe(channel)
        if answer["type"] == "subscribed":
            return time.monotonic() - started
        assert answer["type"] == "error", answer
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still refused after {timeout}s: {answer}")
        await asyncio.sleep(0.05)


async def test_buy_subscribe_live_refund_revokes_live(pair: Pair, standin: StripeStandin):
    base_a = f"http://127.0.0.1:{pair.a.port}"
    standin.webhooks(base_a + HOOK)
    async with httpx.AsyncClient(base_url=base_a, timeout=20) as http:
        shop, space, price = await gated_shop(http)
        buyer = await shop.buyer(http)
        token = buyer.headers["Authorization"].removeprefix("Bearer ")
        channel = f"space:{space['id']}"

        member = await Client.connect(pair.b, f"/api/v1/hub/{shop.hub.id}/ws", token)
        refused = await member.subscribe(channel)
        assert refused["type"] == "error" and refused["code"] != "access_revoked", refused  # not bought yet
        dashboard = await Client.connect(pair.b, f"/api/v1/teams/{shop.staff.team_id}/ws", shop.staff.tokens[
            "access_token"])
        assert (await dashboard.subscribe(f"team:{shop.staff.team_id}"))["type"] == "subscribed"

        r = await http.post(f"{shop.h}/checkout", headers=w(buyer.headers), json=doc("checkouts", {
            "price_id": price["id"], "success_url": f"{ORIGIN}/thanks", "cancel_url": f"{ORIGIN}/hub"}))
        assert r.status_code == 201, r.text
        order_id = r.json()["data"]["attributes"]["order_id"]
        session_url = r.json()["data"]["attributes"]["session_url"]
        session_id = session_url.rsplit("/", 1)[-1]
        standin.complete(session_id)  # the member pays at Stripe's hosted page
        standin.flush()  # ... and every webhook has been delivered to A
        took = await first_subscribe_ok(member, channel, timeout=10.0)
        print(f"\nspace channel allowed {took * 1000:.0f} ms after the webhooks were delivered "
              f"({'two instances' if pair.a is not pair.b else 'one instance'})")
        paid = await dashboard.event("order.paid", timeout=10.0)
        assert paid["data"]["order_id"] == order_id and paid["data"]["amount"] == 2500

        r = await http.get(f"{shop.h}/me/subscriptions", headers=buyer.headers)
        [sub] = r.json()["data"]
        assert sub["attributes"]["status"] == "active" and sub["attributes"]["order_id"] == order_id
        r = await http.get(f"{shop.hub.url}/payments", headers=shop.staff.headers)
        assert r.status_code == 200, r.text
        [payment] = [p for p in r.json()["data"] if p["attributes"]["order_id"] == order_id]

        r = await http.post(f"{shop.hub.url}/payments/{payment['id']}/refund", headers=shop.wh,
                            json=doc("refunds", {"reason": "asked for their money back"}))
        assert r.status_code in (200, 201), r.text
        revoked = await member.until(lambda f: f["type"] == "error" and f.get("channel") == channel, timeout=10.0)
        assert revoked["code"] == "access_revoked", revoked
        refunded = await dashboard.event("order.refunded", timeout=10.0)
        assert refunded["data"]["order_id"] == order_id and refunded["data"]["status"] == "refunded"
        again = await member.subscribe(channel)
        assert again["type"] == "error"
        standin.flush()  # charge.refunded comes too: applied once, nothing more
        r = await http.get(f"{shop.hub.url}/orders/{order_id}", headers=shop.staff.headers)
        assert r.json()["data"]["attributes"]["amount_refunded"] == 2500
        await member.close()
        await dashboard.close()


async def test_a_cancel_at_period_end_takes_the_channel_away_at_that_second(pair: Pair, e2e_database_url: str):
    """A manual subscription (staff marked its order paid) whose period ends in a few seconds: the
    member cancels at period end, keeps the channel until then, and loses it live at that second on
    the other instance (the lapse job); the subscription is then ``canceled``."""
    base_a = f"http://127.0.0.1:{pair.a.port}"
    async with httpx.AsyncClient(base_url=base_a, timeout=20) as http:
        shop, space, price = await gated_shop(http, provider="manual")
        buyer = await shop.buyer(http)
        r = await http.post(f"{shop.h}/checkout", headers=w(buyer.headers), json=doc("checkouts", {
            "price_id": price["id"]}))
        assert r.status_code == 201, r.text
        order_id = r.json()["data"]["attributes"]["order_id"]
        r = await http.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)
        assert r.status_code == 200, r.text
        [sub] = (await http.get(f"{shop.h}/me/subscriptions", headers=buyer.headers)).json()["data"]
        assert (sub["attributes"]["provider"], sub["attributes"]["status"]) == ("manual", "active")
        # The period ends a few seconds from now (the database's row, moved as time would).
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
        engine = create_engine(e2e_database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.update(Subscription).where(Subscription.id == uuid.UUID(sub["id"]))
                                   .values(current_period_end=end))
        finally:
            await engine.dispose()

        token = buyer.headers["Authorization"].removeprefix("Bearer ")
        channel = f"space:{space['id']}"
        member = await Client.connect(pair.b, f"/api/v1/hub/{shop.hub.id}/ws", token)
        assert (await member.subscribe(channel))["type"] == "subscribed"
        r = await http.post(f"{shop.h}/me/subscriptions/{sub['id']}/cancel", headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["access_ends_at"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
        revoked = await member.until(lambda f: f["type"] == "error" and f.get("channel") == channel, timeout=15.0)
        late = (datetime.now(UTC) - end).total_seconds()
        print(f"\nspace channel revoked {late * 1000:.0f} ms after the period end")
        assert revoked["code"] == "access_revoked" and late >= 0, (revoked, late)
        assert (await member.subscribe(channel))["type"] == "error"
        for _ in range(100):  # the job ends the manual subscription at its period end
            got = (await http.get(f"{shop.h}/me/subscriptions/{sub['id']}", headers=buyer.headers)).json()["data"]
            if got["attributes"]["status"] == "canceled":
                break
            await asyncio.sleep(0.1)
        assert got["attributes"]["status"] == "canceled" and got["attributes"]["ended_at"].startswith(
            end.strftime("%Y-%m-%dT%H:%M:%S"))
        await member.close()
