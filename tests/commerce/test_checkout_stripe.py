"""Checkout and refunds through Stripe (the stand-in over real HTTP, the real SDK): a session per
order with a key derived from it, nothing kept when Stripe fails, refunds through Stripe."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.commerce.orders import BillingActor, PaidWith, mark_order_paid
from persistence.models import Coupon, Order, Team
from tests.support.api import assert_error, doc
from tests.support.app import db_rows, db_write
from tests.support.catalog import open_shop
from tests.support.commerce import entitlements_of, in_ctx, order_row

ORIGIN = "https://creator.example"


async def stripe_shop(client: Any, app: Any) -> Any:
    shop = await open_shop(client)
    db_write(client, app, sa.update(Team).where(Team.id == uuid.UUID(shop.staff.team_id)).values(
        payment_provider="stripe"))
    r = await client.patch(shop.hub.url, json=doc("hubs", {"allowed_redirect_origins": [ORIGIN]}, shop.hub.id),
                           headers=shop.wh)
    assert r.status_code == 200, r.text
    return shop


def checkout_body(price_id: str, **attrs: Any) -> dict[str, Any]:
    return doc("checkouts", {"price_id": price_id, "success_url": f"{ORIGIN}/thanks",
                             "cancel_url": f"{ORIGIN}/hub", **attrs})


def orders_of(client: Any, app: Any, team_id: str) -> list[Order]:
    return db_rows(client, app, sa.select(Order).where(Order.team_id == uuid.UUID(team_id)))


async def test_a_paid_price_opens_a_stripe_session_keyed_by_the_order(stripe_client: Any, stripe_app: Any,
                                                                      standin: Any) -> None:
    shop = await stripe_shop(stripe_client, stripe_app)
    _, price = await shop.on_sale(stripe_client, amount=2500)
    buyer = await shop.buyer(stripe_client)
    r = await stripe_client.post(f"{shop.h}/checkout", json=checkout_body(price["id"]), headers=buyer.headers)
    assert r.status_code == 201, r.text
    a = r.json()["data"]["attributes"]
    assert (a["status"], a["payment_status"], a["provider"]) == ("pending", "unpaid", "stripe")
    assert a["session_url"] and a["session_url"].startswith(standin.base)
    order = order_row(stripe_client, stripe_app, a["order_id"])
    assert order.provider_session_id and order.provider_session_id.startswith("cs_")
    keys = [q["idempotency_key"] for q in standin.requests() if q["path"] == "/v1/checkout/sessions"]
    assert f"order-{a['order_id']}-session" in keys

    # no success_url: refused before anything is asked of Stripe
    r = await stripe_client.post(f"{shop.h}/checkout", json=doc("checkouts", {"price_id": price["id"]}),
                                 headers=buyer.headers)
    assert_error(r, 422, "success_url_required", "/data/attributes/success_url")
    assert len(orders_of(stripe_client, stripe_app, shop.staff.team_id)) == 1


async def test_stripe_down_keeps_nothing(stripe_client: Any, stripe_app: Any, standin: Any) -> None:
    shop = await stripe_shop(stripe_client, stripe_app)
    _, price = await shop.on_sale(stripe_client, amount=2500)
    coupon = await shop.coupon(stripe_client, percent_off=10, max_redemptions=1)
    buyer = await shop.buyer(stripe_client)
    standin.fail_next(status=503, count=10, path="/v1/checkout/sessions")
    try:
        r = await stripe_client.post(f"{shop.h}/checkout", json=checkout_body(
            price["id"], coupon_code=coupon["attributes"]["code"]), headers=buyer.headers)
    finally:
        standin.control("DELETE", "/faults")
    assert_error(r, 503, "payment_provider_unavailable")
    assert r.headers.get("retry-after")
    assert orders_of(stripe_client, stripe_app, shop.staff.team_id) == []
    assert db_rows(stripe_client, stripe_app, sa.select(Coupon.times_redeemed).where(
        Coupon.id == uuid.UUID(coupon["id"]))) == [0]
    # and once Stripe answers, the same coupon still works
    r = await stripe_client.post(f"{shop.h}/checkout", json=checkout_body(
        price["id"], coupon_code=coupon["attributes"]["code"]), headers=buyer.headers)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["amount_total"] == 2250


async def test_staff_refund_a_stripe_payment_partly_then_fully(stripe_client: Any, stripe_app: Any, standin: Any,
                                                               clock: Any) -> None:
    shop = await stripe_shop(stripe_client, stripe_app)
    product, price = await shop.on_sale(stripe_client, amount=3000)
    await shop.deliverable(stripe_client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(stripe_client)
    r = await stripe_client.post(f"{shop.h}/checkout", json=checkout_body(price["id"]), headers=buyer.headers)
    order_id = r.json()["data"]["attributes"]["order_id"]
    session = standin.complete(order_row(stripe_client, stripe_app, order_id).provider_session_id)
    pi = session["payment_intent"]
    pi = pi if isinstance(pi, str) else pi["id"]

    async def paid(ctx: Any) -> bool:  # what the checkout.session.completed handler does
        order = await ctx.uow.session.get(Order, uuid.UUID(order_id))
        return await mark_order_paid(ctx, order, actor=BillingActor.provider(),
                                     payment=PaidWith(pi, None, 3000, "usd", clock.now()))
    assert in_ctx(stripe_client, stripe_app, clock, paid) is True
    [payment] = (await stripe_client.get(f"{shop.hub.url}/payments", headers=shop.staff.headers)).json()["data"]
    refund_url = f"{shop.hub.url}/payments/{payment['id']}/refund"

    def refund(**attrs: Any) -> Any:
        return stripe_client.post(refund_url, json=doc("refunds", attrs), headers=shop.wh)

    assert_error(await refund(reason="too much", amount=3001), 422, "invalid_refund_amount", "/data/attributes/amount")
    assert_error(await refund(reason="negative", amount=-5), 422, "invalid_refund_amount")
    assert_error(await refund(reason="   ", amount=5), 422, "invalid_reason", "/data/attributes/reason")
    part = await refund(reason="one week missed", amount=1000)
    assert part.status_code == 201, part.text
    ra = part.json()["data"]["attributes"]
    assert (ra["status"], ra["amount"], ra["provider"]) == ("succeeded", 1000, "stripe")
    assert ra["provider_refund_id"].startswith("re_")
    refund_keys = [q["idempotency_key"] for q in standin.requests() if q["path"] == "/v1/refunds"]
    assert f"refund-{part.json()['data']['id']}" in refund_keys
    order = order_row(stripe_client, stripe_app, order_id)
    assert (order.status, order.amount_refunded) == ("paid", 1000)
    assert all(e.revoked_at is None for e in entitlements_of(stripe_client, stripe_app, buyer.contact_id))

    rest = await refund(reason="asked for the rest back")
    assert rest.status_code == 201, rest.text
    assert rest.json()["data"]["attributes"]["amount"] == 2000
    order = order_row(stripe_client, stripe_app, order_id)
    assert (order.status, order.amount_refunded) == ("refunded", 3000)
    assert all(e.revoked_at is not None for e in entitlements_of(stripe_client, stripe_app, buyer.contact_id))
    assert_error(await refund(reason="again"), 409, "payment_not_refundable")
    got = (await stripe_client.get(f"{shop.hub.url}/payments/{payment['id']}", headers=shop.staff.headers)).json()
    assert got["data"]["attributes"]["amount_refunded"] == 3000


async def test_manual_refund_is_recorded_at_once(client: Any, app: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=1200)
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    r = await client.post(f"{shop.h}/checkout", json=doc("checkouts", {"price_id": price["id"]}), headers=buyer.headers)
    order_id = r.json()["data"]["attributes"]["order_id"]
    assert (await client.get(f"{shop.hub.url}/payments", headers=shop.staff.headers)).json()["data"] == []
    assert (await client.post(f"{shop.hub.url}/orders/{order_id}/mark-paid", headers=shop.wh)).status_code == 200
    [payment] = (await client.get(f"{shop.hub.url}/payments", headers=shop.staff.headers)).json()["data"]
    r = await client.post(f"{shop.hub.url}/payments/{payment['id']}/refund",
                          json=doc("refunds", {"reason": "returned by bank transfer"}), headers=shop.wh)
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["attributes"]["status"], r.json()["data"]["attributes"]["provider"]) == (
        "succeeded", "manual")
    assert order_row(client, app, order_id).status == "refunded"
    assert all(e.revoked_at is not None for e in entitlements_of(client, app, buyer.contact_id))
    # another team's staff cannot see or refund it
    other = await open_shop(client)
    assert_error(await client.post(f"{other.hub.url}/payments/{payment['id']}/refund",
                                   json=doc("refunds", {"reason": "x"}), headers=other.wh), 404, "not_found")


async def test_owners_choose_the_payment_provider(client: Any, app: Any, shop: Any) -> None:
    url = f"/api/v1/teams/{shop.staff.team_id}"
    got = (await client.get(url, headers=shop.staff.headers)).json()["data"]["attributes"]
    assert got["payment_provider"] == "manual"
    r = await client.patch(url, json=doc("teams", {"payment_provider": "paypal"}, shop.staff.team_id), headers=shop.wh)
    assert_error(r, 422, "invalid_payment_provider", "/data/attributes/payment_provider")
    r = await client.patch(url, json=doc("teams", {"payment_provider": "stripe"}, shop.staff.team_id), headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["payment_provider"] == "stripe"
    # this test app has no Stripe key: a paid checkout is refused, and nothing is kept
    _, price = await shop.on_sale(client, amount=500)
    buyer = await shop.buyer(client)
    r = await client.post(f"{shop.h}/checkout", json=doc("checkouts", {"price_id": price["id"]}), headers=buyer.headers)
    assert_error(r, 503, "payment_provider_not_configured")
    assert orders_of(client, app, shop.staff.team_id) == []
    # a free price still completes
    _, free = await shop.on_sale(client, amount=0)
    r = await client.post(f"{shop.h}/checkout", json=doc("checkouts", {"price_id": free["id"]}), headers=buyer.headers)
    assert r.status_code == 201 and r.json()["data"]["attributes"]["status"] == "paid"
