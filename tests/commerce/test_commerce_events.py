"""``order.created``, ``order.paid`` and ``order.refunded`` on ``team:{id}`` after commit, each
fitting its schema, and the dashboard's order and revenue counters kept current from them: the
counters read once plus the events equal the counters read again."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import sqlalchemy as sa

from domain.events import EVENT_SCHEMAS, OrderChanged
from domain.events.channels import team_channel
from persistence.models import Order
from tests.support.api import doc
from tests.support.app import Listener, db_rows
from tests.support.commerce import order_events


def checkout(shop: Any, price_id: str) -> dict[str, Any]:
    return doc("checkouts", {"price_id": price_id})


def typed(event: dict[str, Any]) -> OrderChanged:
    return msgspec.convert(event["data"], OrderChanged, strict=False)


async def test_order_created_is_sent_for_a_pending_order(client: Any, app: Any, shop: Any) -> None:
    assert EVENT_SCHEMAS["order.created"] is OrderChanged
    _, price = await shop.on_sale(client, amount=700)
    buyer = await shop.buyer(client)
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        r = await client.post(f"{shop.h}/checkout", json=checkout(shop, price["id"]), headers=buyer.headers)
        events = order_events(feed, 1)
    assert r.status_code == 201
    [created] = events
    assert (created["event"], created["channel"]) == ("order.created", team_channel(shop.staff.team_id))
    data = typed(created)
    assert (data.order_id, data.status, data.amount_total, data.amount, data.contact_id, data.paid_at) == (
        r.json()["data"]["id"], "pending", 700, 0, buyer.contact_id, None)


async def test_order_paid_is_sent_once_when_staff_mark_it_paid(client: Any, app: Any, shop: Any) -> None:
    assert EVENT_SCHEMAS["order.paid"] is OrderChanged
    _, price = await shop.on_sale(client, amount=700)
    buyer = await shop.buyer(client)
    order_id = (await client.post(f"{shop.h}/checkout", json=checkout(shop, price["id"]),
                                  headers=buyer.headers)).json()["data"]["id"]
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        assert (await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)).status_code == 200
        assert (await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)).status_code == 409
        events = order_events(feed, 1)
    assert [e["event"] for e in events] == ["order.paid"]
    data = typed(events[0])
    assert (data.order_id, data.status, data.payment_status, data.amount) == (order_id, "paid", "paid", 700)
    assert data.paid_at is not None


async def test_order_refunded_is_sent_with_the_amount_refunded_now(client: Any, app: Any, shop: Any) -> None:
    assert EVENT_SCHEMAS["order.refunded"] is OrderChanged
    _, price = await shop.on_sale(client, amount=700)
    buyer = await shop.buyer(client)
    order_id = (await client.post(f"{shop.h}/checkout", json=checkout(shop, price["id"]),
                                  headers=buyer.headers)).json()["data"]["id"]
    await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)
    [payment] = (await client.get(f"{shop.hub.url}/payments", headers=shop.staff.headers)).json()["data"]
    url = f"{shop.hub.url}/payments/{payment['id']}/refund"
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        await client.post(url, json=doc("refunds", {"reason": "part", "amount": 200}), headers=shop.wh)
        await client.post(url, json=doc("refunds", {"reason": "rest"}), headers=shop.wh)
        # refused: nothing left, so no event
        assert (await client.post(url, json=doc("refunds", {"reason": "more"}), headers=shop.wh)).status_code == 409
        events = order_events(feed, 2)
    assert [(e["event"], typed(e).amount, typed(e).status, typed(e).amount_refunded) for e in events] == [
        ("order.refunded", 200, "paid", 200), ("order.refunded", 500, "refunded", 700)]


async def test_dashboard_counters_plus_the_feed_equal_a_fresh_read(client: Any, app: Any, shop: Any) -> None:
    dashboard = f"{shop.t}/dashboard"
    first = (await client.get(dashboard, headers=shop.staff.headers)).json()["data"]["attributes"]
    assert (first["orders_paid"], first["revenue"]) == (0, {})
    _, usd = await shop.on_sale(client, amount=1000)
    _, eur = await shop.on_sale(client, amount=250, currency="eur")
    _, free = await shop.on_sale(client, amount=0)
    buyer = await shop.buyer(client)
    counters = {"orders_paid": first["orders_paid"], "revenue": dict(first["revenue"])}
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        ids = [(await client.post(f"{shop.h}/checkout", json=checkout(shop, p["id"]), headers=buyer.headers)).json()[
            "data"]["id"] for p in (usd, eur, free)]
        for order_id in ids[:2]:
            await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)
        payments = (await client.get(f"{shop.hub.url}/payments", params={"filter[order_id]": ids[0]},
                                     headers=shop.staff.headers)).json()["data"]
        await client.post(f"{shop.hub.url}/payments/{payments[0]['id']}/refund",
                          json=doc("refunds", {"reason": "goodwill", "amount": 300}), headers=shop.wh)
        events = order_events(feed, 3 + 3 + 1)
    for e in events:  # what the web app's dashboard does with them (server/web/static/staff.js)
        d = e["data"]
        if e["event"] == "order.paid":
            counters["orders_paid"] += 1
            counters["revenue"][d["currency"]] = counters["revenue"].get(d["currency"], 0) + d["amount"]
        elif e["event"] == "order.refunded":
            counters["revenue"][d["currency"]] -= d["amount"]
    again = (await client.get(dashboard, headers=shop.staff.headers)).json()["data"]["attributes"]
    assert counters == {"orders_paid": again["orders_paid"], "revenue": again["revenue"]}
    assert again["orders_paid"] == 3 and again["revenue"] == {"usd": 700, "eur": 250}
    statuses = db_rows(client, app, sa.select(Order.status).where(Order.id.in_([uuid.UUID(i) for i in ids])))
    assert sorted(statuses) == ["paid", "paid", "paid"]
