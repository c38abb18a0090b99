"""Checkout (``H/checkout``): free and 100 %-off complete at once, manual waits for staff, guests
give an email, coupons are refused with their own codes, bad input changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from domain.events.channels import team_channel
from persistence.models import Coupon, CouponRedemption, Order, Price, TeamContact
from tests.support.api import assert_error, doc, register, user_id
from tests.support.app import Listener, db_rows, db_write
from tests.support.commerce import audit_of, entitlements_of, order_events
from tests.support.community import race, row_lock
from tests.support.hubs import new_hub


def body(price_id: str, **attrs: Any) -> dict[str, Any]:
    return doc("checkouts", {"price_id": price_id, **attrs})


async def buy(client: Any, shop: Any, price_id: str, headers: dict[str, str] | None = None, **attrs: Any) -> Any:
    return await client.post(f"{shop.h}/checkout", json=body(price_id, **attrs), headers=headers or {})


def orders_count(client: Any, app: Any, team_id: str) -> int:
    return len(db_rows(client, app, sa.select(Order.id).where(Order.team_id == uuid.UUID(team_id))))


def redeemed(client: Any, app: Any, coupon_id: str) -> int:
    return int(db_rows(client, app, sa.select(Coupon.times_redeemed).where(Coupon.id == uuid.UUID(coupon_id)))[0])


async def test_a_free_price_completes_at_once_and_delivers(client: Any, app: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=0)
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        r = await buy(client, shop, price["id"], buyer.headers)
        names = [e["event"] for e in order_events(feed, 2)]
    assert r.status_code == 201, r.text
    a = r.json()["data"]["attributes"]
    assert (a["status"], a["payment_status"], a["provider"], a["amount_total"]) == (
        "paid", "no_payment_required", "free", 0)
    assert names == ["order.created", "order.paid"]
    [e] = entitlements_of(client, app, buyer.contact_id)
    assert (e.kind, str(e.target_id), e.source, e.source_id) == ("hub_access", shop.hub.id, "order", a["order_id"])

    mine = (await client.get(f"{shop.h}/me/orders", headers=buyer.headers)).json()["data"]
    assert [o["id"] for o in mine] == [a["order_id"]]
    one = await client.get(f"{shop.h}/me/orders/{a['order_id']}", headers=buyer.headers)
    assert one.status_code == 200 and one.json()["data"]["attributes"]["status"] == "paid"
    # someone else's order is not mine
    other = await shop.buyer(client)
    assert (await client.get(f"{shop.h}/me/orders/{a['order_id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{shop.h}/me/orders", headers=other.headers)).json()["data"] == []


async def test_a_guest_buys_by_email_and_staff_mark_the_manual_order_paid(client: Any, app: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=4900, currency="eur")
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    email = f"Guest-{uuid.uuid4().hex[:8]}@Example.test"
    r = await buy(client, shop, price["id"], email=email)
    assert r.status_code == 201, r.text
    a = r.json()["data"]["attributes"]
    assert (a["status"], a["payment_status"], a["provider"], a["amount_total"], a["currency"]) == (
        "pending", "unpaid", "manual", 4900, "eur")
    order_id = a["order_id"]
    listed = await client.get(f"{shop.hub.url}/orders", params={"filter[status]": "pending"}, headers=shop.staff.headers)
    assert [o["id"] for o in listed.json()["data"]] == [order_id]
    contact_id = listed.json()["data"][0]["attributes"]["contact_id"]
    assert db_rows(client, app, sa.select(TeamContact.source).where(TeamContact.contact_id == uuid.UUID(contact_id)))
    assert entitlements_of(client, app, contact_id) == []  # nothing before the money
    # the same email again finds the same contact
    again = await buy(client, shop, price["id"], email=email.lower())
    assert again.status_code == 201
    by_contact = await client.get(f"{shop.hub.url}/orders", params={"filter[contact_id]": contact_id},
                                  headers=shop.staff.headers)
    assert len(by_contact.json()["data"]) == 2

    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        paid = await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)
        names = [e["event"] for e in order_events(feed, 1)]
    assert paid.status_code == 200, paid.text
    assert paid.json()["data"]["attributes"]["status"] == "paid"
    assert names == ["order.paid"]
    assert [e.kind for e in entitlements_of(client, app, contact_id)] == ["hub_access"]
    [audit] = audit_of(client, app, order_id)
    assert (audit.action, audit.actor_type, str(audit.actor_user_id), audit.amount) == (
        "order.paid", "staff", user_id(shop.staff), 4900)
    payments = (await client.get(f"{shop.hub.url}/payments", params={"filter[order_id]": order_id},
                                 headers=shop.staff.headers)).json()["data"]
    assert [(p["attributes"]["provider"], p["attributes"]["amount"]) for p in payments] == [("manual", 4900)]

    twice = await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)
    assert_error(twice, 409, "order_not_pending")
    assert len(audit_of(client, app, order_id)) == 1


async def test_coupons_discount_and_a_100_percent_coupon_completes_at_once(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=2000)
    buyer = await shop.buyer(client)
    half = await shop.coupon(client, percent_off=12.5)
    r = await buy(client, shop, price["id"], buyer.headers, coupon_code=half["attributes"]["code"].lower())
    a = r.json()["data"]["attributes"]
    assert (a["amount_subtotal"], a["amount_discount"], a["amount_total"], a["status"]) == (2000, 250, 1750, "pending")
    assert redeemed(client, app, half["id"]) == 1

    full = await shop.coupon(client, percent_off=100, max_redemptions=5)
    r = await buy(client, shop, price["id"], buyer.headers, coupon_code=full["attributes"]["code"])
    a = r.json()["data"]["attributes"]
    assert (a["amount_total"], a["status"], a["provider"]) == (0, "paid", "free")
    assert redeemed(client, app, full["id"]) == 1
    off = await shop.coupon(client, amount_off=5000, currency="usd")
    r = await buy(client, shop, price["id"], buyer.headers, coupon_code=off["attributes"]["code"])
    assert r.json()["data"]["attributes"]["amount_total"] == 0  # never below zero


async def test_coupon_refusals_have_their_own_codes_and_change_nothing(client: Any, app: Any, clock: Any,
                                                                       shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=2000)
    other_product, _ = await shop.on_sale(client, amount=100)
    buyer = await shop.buyer(client)
    scoped = await shop.coupon(client, product_ids=[other_product["id"]])
    once = await shop.coupon(client, max_redemptions=1)
    expiring = await shop.coupon(client, redeem_by=(clock.now() + timedelta(days=1)).isoformat())
    eur = await shop.coupon(client, amount_off=100, currency="eur")
    inactive = await shop.coupon(client)
    await client.patch(f"{shop.t}/coupons/{inactive['id']}", json=doc("coupons", {"active": False}, inactive["id"]),
                       headers=shop.wh)
    assert (await buy(client, shop, price["id"], buyer.headers, coupon_code=once["attributes"]["code"])).status_code == 201
    clock.advance(days=2)
    before = orders_count(client, app, shop.staff.team_id)
    for code, expected in ((scoped, "coupon_not_applicable"), (once, "coupon_used_up"), (expiring, "coupon_expired"),
                           (eur, "coupon_currency_mismatch"), (inactive, "coupon_not_found")):
        r = await buy(client, shop, price["id"], buyer.headers, coupon_code=code["attributes"]["code"])
        assert_error(r, 422, expected, "/data/attributes/coupon_code")
    assert_error(await buy(client, shop, price["id"], buyer.headers, coupon_code="NOPE-" + uuid.uuid4().hex[:6]), 422,
                 "coupon_not_found")
    # another team's code is not ours
    stranger = await register(client, "stranger")
    r = await client.post(f"/api/v1/teams/{stranger.team_id}/coupons", json=doc("coupons", {
        "code": f"THEIRS{uuid.uuid4().hex[:6]}", "percent_off": 50}), headers={**stranger.headers,
                                                                              "Content-Type": "application/vnd.api+json"})
    assert r.status_code == 201, r.text
    assert_error(await buy(client, shop, price["id"], buyer.headers, coupon_code=r.json()["data"]["attributes"]["code"]),
                 422, "coupon_not_found")
    assert orders_count(client, app, shop.staff.team_id) == before
    assert [redeemed(client, app, c["id"]) for c in (scoped, once, expiring, eur)] == [0, 1, 0, 0]


async def test_bad_input_is_refused_and_changes_nothing(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=2000)
    buyer = await shop.buyer(client)
    stranger = await register(client, "stranger")
    their_shop = type(shop)(stranger, await new_hub(client, stranger))
    _, their_price = await their_shop.on_sale(client, amount=100)
    archived_product, archived = await shop.on_sale(client, amount=300)
    r = await client.patch(shop.product_url(archived_product["id"], f"/prices/{archived['id']}"),
                           json=doc("prices", {"active": False}, archived["id"]), headers=shop.wh)
    assert r.status_code == 200, r.text
    undisplayed = await shop.price(client, (await shop.product(client))["id"])
    before = orders_count(client, app, shop.staff.team_id)

    assert_error(await buy(client, shop, their_price["id"], buyer.headers), 404, "not_found")
    assert_error(await buy(client, shop, archived["id"], buyer.headers), 422, "price_not_available",
                 "/data/attributes/price_id")
    assert_error(await buy(client, shop, undisplayed["id"], buyer.headers), 422, "price_not_available")
    assert_error(await buy(client, shop, "not-an-id", buyer.headers), 422, "invalid_id", "/data/attributes/price_id")
    assert_error(await buy(client, shop, price["id"]), 422, "email_required", "/data/attributes/email")
    assert_error(await buy(client, shop, price["id"], email="not an email"), 422, "invalid_email")
    assert_error(await buy(client, shop, price["id"], buyer.headers, success_url="javascript:alert(1)"), 422,
                 "invalid_url", "/data/attributes/success_url")
    assert_error(await buy(client, shop, price["id"], buyer.headers, success_url="https://evil.example/x"), 422,
                 "redirect_not_allowed")
    r = await client.post(f"{shop.h}/checkout", json=body(price["id"], amount=1), headers=buyer.headers)
    assert r.status_code == 422  # unknown attribute (a client can't name its own price)
    # the buyer's token is for this hub, not another team's
    r = await client.post(f"{their_shop.h}/checkout", json=body(their_price["id"]), headers=buyer.headers)
    assert r.status_code in (401, 403, 404)
    assert_error(await client.post(f"/api/v1/hub/{uuid.uuid4()}/checkout", json=body(price["id"], email="a@b.test")),
                 404, "not_found")
    assert orders_count(client, app, shop.staff.team_id) == before
    # staff side: another team's order and payment ids are 404
    their_buyer = await their_shop.buyer(client)
    theirs = (await buy(client, their_shop, their_price["id"], their_buyer.headers)).json()["data"]["id"]
    for url in (f"{shop.hub.url}/orders/{theirs}", f"{shop.hub.url}/orders/{uuid.uuid4()}", f"{shop.hub.url}/orders/x"):
        assert_error(await client.get(url, headers=shop.staff.headers), 404, "not_found")
    assert_error(await client.post(f"{shop.hub.url}/orders/{theirs}/mark-paid", headers=shop.wh), 404, "not_found")
    assert_error(await client.get(f"{shop.hub.url}/orders", params={"filter[status]": "nope"},
                                  headers=shop.staff.headers), 422, "invalid_filter")
    assert_error(await client.get(f"{shop.hub.url}/orders", params={"filter[contact_id]": "x"},
                                  headers=shop.staff.headers), 422, "invalid_filter")
    assert db_rows(client, app, sa.select(Order.status).where(Order.id == uuid.UUID(theirs))) == ["pending"]


async def test_concurrent_checkouts_redeem_a_last_coupon_use_once(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=2000)
    coupon = await shop.coupon(client, percent_off=50, max_redemptions=1)
    buyers = [await shop.buyer(client) for _ in range(3)]
    requests = [("POST", f"{shop.h}/checkout", {**b.headers, "Content-Type": "application/vnd.api+json"},
                 body(price["id"], coupon_code=coupon["attributes"]["code"])) for b in buyers]
    responses = race(client, app, row_lock(Coupon, coupon["id"]), *requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 422, 422], [r.text for r in responses]
    assert all(r.json()["errors"][0]["code"] == "coupon_used_up" for r in responses if r.status_code == 422)
    assert redeemed(client, app, coupon["id"]) == 1
    assert len(db_rows(client, app, sa.select(CouponRedemption.id).where(
        CouponRedemption.coupon_id == uuid.UUID(coupon["id"])))) == 1
    assert orders_count(client, app, shop.staff.team_id) == 1


async def test_a_price_archived_after_display_is_not_sold(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=2000)
    db_write(client, app, sa.update(Price).where(Price.id == uuid.UUID(price["id"])).values(active=False))
    buyer = await shop.buyer(client)
    assert_error(await buy(client, shop, price["id"], buyer.headers), 422, "price_not_available")


async def test_two_staff_marking_one_order_paid_at_once_pay_it_once(client: Any, app: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=1500)
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    order_id = (await buy(client, shop, price["id"], buyer.headers)).json()["data"]["id"]
    url = f"{shop.hub.url}/orders/{order_id}/mark-paid"
    responses = race(client, app, row_lock(Order, order_id), ("POST", url, shop.wh, b""), ("POST", url, shop.wh, b""))
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert len(audit_of(client, app, order_id)) == 1
    assert len(entitlements_of(client, app, buyer.contact_id)) == 1
    payments = (await client.get(f"{shop.hub.url}/payments", params={"filter[order_id]": order_id},
                                 headers=shop.staff.headers)).json()["data"]
    assert len(payments) == 1
    # absurd refund amounts are refused at the edge or by the rules, and change nothing
    refund_url = f"{shop.hub.url}/payments/{payments[0]['id']}/refund"
    for amount in (10**30, "100", 1.5, 0, 1501):
        r = await client.post(refund_url, json=doc("refunds", {"reason": "x", "amount": amount}), headers=shop.wh)
        assert r.status_code == 422, (amount, r.text)
    assert db_rows(client, app, sa.select(Order.amount_refunded).where(Order.id == uuid.UUID(order_id))) == [0]


async def test_only_manual_orders_are_marked_paid_by_staff(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=1500)
    buyer = await shop.buyer(client)
    order_id = (await buy(client, shop, price["id"], buyer.headers)).json()["data"]["id"]
    db_write(client, app, sa.update(Order).where(Order.id == uuid.UUID(order_id)).values(provider="stripe"))
    assert_error(await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh), 409,
                 "order_not_manual")
    assert db_rows(client, app, sa.select(Order.status).where(Order.id == uuid.UUID(order_id))) == ["pending"]


async def test_guest_checkouts_per_email_are_limited(client: Any, app: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=100)
    email = f"busy-{uuid.uuid4().hex[:8]}@example.test"
    for _ in range(10):
        assert (await buy(client, shop, price["id"], email=email)).status_code == 201
    before = orders_count(client, app, shop.staff.team_id)
    r = await buy(client, shop, price["id"], email=email.upper())
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) > 0
    assert orders_count(client, app, shop.staff.team_id) == before
    # another email is not held back
    assert (await buy(client, shop, price["id"], email=f"other-{email}")).status_code == 201
