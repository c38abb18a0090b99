"""The order transitions every payment path shares (domain/commerce/orders.py): paid delivers
once, failed and expired release the coupon redemption once, and each writes its audit row."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.commerce.orders import BillingActor, PaidWith, expire_order, mark_order_failed, mark_order_paid
from domain.events.channels import team_channel
from persistence.models import Coupon, CouponRedemption, Order
from tests.support.api import doc
from tests.support.app import Listener, db_rows, db_write
from tests.support.catalog import write_order
from tests.support.commerce import (
    audit_of,
    entitlements_of,
    in_ctx,
    order_events,
    order_row,
    payments_of,
    subscriptions_of,
    tag_ids_of,
)
from tests.support.community import make_space


def pay(client: Any, app: Any, clock: Any, order_id: str, **kwargs: Any) -> bool:
    async def go(ctx: Any) -> bool:
        order = await ctx.uow.session.get(Order, uuid.UUID(order_id))
        return await mark_order_paid(ctx, order, **kwargs)
    return bool(in_ctx(client, app, clock, go))


async def test_paid_delivers_every_deliverable_once_with_audit_and_event(client: Any, app: Any, clock: Any,
                                                                        shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=2500)
    space_id = make_space(client, app, clock, shop.hub.id, access_level="private")
    r = await client.post(f"{shop.t}/tags", json=doc("tags", {"name": f"buyer-{uuid.uuid4().hex[:6]}"}), headers=shop.wh)
    assert r.status_code == 201, r.text
    tag_id = r.json()["data"]["id"]
    for kind, target in (("hub_access", shop.hub.id), ("community_access", space_id), ("tag", tag_id)):
        await shop.deliverable(client, product["id"], kind, target)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)

    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        assert pay(client, app, clock, order_id, actor=BillingActor.system()) is True
        events = order_events(feed, 1)
    assert [e["event"] for e in events] == ["order.paid"]
    assert events[0]["data"]["order_id"] == order_id and events[0]["data"]["amount"] == 2500

    order = order_row(client, app, order_id)
    assert (order.status, order.payment_status, order.paid_at is not None) == ("paid", "paid", True)
    [payment] = payments_of(client, app, order_id)
    assert (payment.provider, payment.amount, payment.status) == ("manual", 2500, "succeeded")
    held = {(e.kind, str(e.target_id), e.source, e.source_id) for e in entitlements_of(client, app, buyer.contact_id)}
    assert held == {("hub_access", shop.hub.id, "order", order_id), ("community_access", space_id, "order", order_id)}
    assert tag_id in tag_ids_of(client, app, shop.staff.team_id, buyer.contact_id)
    assert [a.action for a in audit_of(client, app, order_id)] == ["order.paid"]

    # again (a replayed webhook, a double click): nothing changes
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        assert pay(client, app, clock, order_id, actor=BillingActor.provider()) is False
        assert order_events(feed, 0) == []
    assert len(payments_of(client, app, order_id)) == 1
    assert len(entitlements_of(client, app, buyer.contact_id)) == 2
    assert len(audit_of(client, app, order_id)) == 1


async def test_provider_payment_is_stored_with_its_ids(client: Any, app: Any, clock: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=900)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)
    paid = PaidWith("pi_123" + uuid.uuid4().hex, "ch_1", 900, "USD", clock.now())
    assert pay(client, app, clock, order_id, actor=BillingActor.provider(), payment=paid) is True
    [payment] = payments_of(client, app, order_id)
    assert (payment.provider_payment_id, payment.provider_charge_id, payment.currency) == (
        paid.provider_payment_id, "ch_1", "usd")
    assert order_row(client, app, order_id).provider_payment_intent_id == paid.provider_payment_id
    assert audit_of(client, app, order_id)[0].actor_type == "provider"


async def test_recurring_manual_order_starts_a_local_subscription(client: Any, app: Any, clock: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=1000, type="recurring", interval="month")
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)
    assert pay(client, app, clock, order_id, actor=BillingActor.system()) is True
    [sub] = subscriptions_of(client, app, order_id)
    assert (sub.status, sub.provider) == ("active", "manual")
    assert sub.current_period_end > sub.current_period_start
    [e] = entitlements_of(client, app, buyer.contact_id)
    assert (e.source, e.source_id) == ("subscription", str(sub.id))
    assert payments_of(client, app, order_id)[0].subscription_id == sub.id


async def test_failed_and_expired_release_the_redemption_once(client: Any, app: Any, clock: Any, shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=1000)
    coupon = await shop.coupon(client, percent_off=10)
    buyer = await shop.buyer(client)
    orders = [write_order(client, app, clock, shop, buyer, price) for _ in range(3)]
    cid = uuid.UUID(coupon["id"])
    for order_id in orders:
        db_write(client, app, CouponRedemption(team_id=uuid.UUID(shop.staff.team_id), coupon_id=cid,
                                               order_id=uuid.UUID(order_id), contact_id=uuid.UUID(buyer.contact_id),
                                               created_at=clock.now()))
    db_write(client, app, sa.update(Coupon).where(Coupon.id == cid).values(times_redeemed=3))

    def run(fn: Any, order_id: str) -> bool:
        async def go(ctx: Any) -> bool:
            return await fn(ctx, await ctx.uow.session.get(Order, uuid.UUID(order_id)))
        return bool(in_ctx(client, app, clock, go))

    def fail(ctx: Any, o: Order) -> Any:
        return mark_order_failed(ctx, o, reason="card declined", actor=BillingActor.provider())

    def expire(ctx: Any, o: Order) -> Any:
        return expire_order(ctx, o, actor=BillingActor.provider())

    def redeemed() -> int:
        return int(db_rows(client, app, sa.select(Coupon.times_redeemed).where(Coupon.id == cid))[0])

    assert run(fail, orders[0]) is True and redeemed() == 2
    assert run(fail, orders[0]) is False and redeemed() == 2
    assert run(expire, orders[0]) is False  # failed stays failed
    assert run(expire, orders[1]) is True and redeemed() == 1
    assert order_row(client, app, orders[1]).status == "expired"
    assert pay(client, app, clock, orders[2], actor=BillingActor.system()) is True
    assert run(expire, orders[2]) is False and redeemed() == 1  # a paid order keeps its redemption
    assert [a.action for a in audit_of(client, app, orders[0])] == ["order.failed"]
    assert audit_of(client, app, orders[0])[0].reason == "card declined"
