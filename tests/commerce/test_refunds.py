"""Refunds (domain/commerce/refunds.py): a partial refund keeps access, a full one revokes it and
sets the order refunded; a provider refund is counted once per refund id."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.commerce.orders import BillingActor, PaidWith, mark_order_paid
from domain.commerce.refunds import apply_refund
from domain.events.channels import team_channel
from persistence.models import Order, Payment
from tests.support.api import doc
from tests.support.app import Listener, db_write
from tests.support.catalog import write_order
from tests.support.commerce import audit_of, entitlements_of, in_ctx, order_events, order_row, payments_of


async def paid_order(client: Any, app: Any, clock: Any, shop: Any, amount: int = 3000,
                     payment: PaidWith | None = None) -> tuple[Any, str]:
    product, price = await shop.on_sale(client, amount=amount)
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)

    async def pay(ctx: Any) -> bool:
        return await mark_order_paid(ctx, await ctx.uow.session.get(Order, uuid.UUID(order_id)),
                                     actor=BillingActor.system(), payment=payment)
    assert in_ctx(client, app, clock, pay) is True
    return buyer, order_id


def provider_refund(client: Any, app: Any, clock: Any, order_id: str, refund_id: str, amount: int,
                    status: str = "succeeded") -> bool:
    async def go(ctx: Any) -> bool:
        row = await ctx.uow.session.scalar(sa.select(Payment).where(Payment.order_id == uuid.UUID(order_id)))
        return await apply_refund(ctx, row, provider_refund_id=refund_id, amount=amount, status=status,
                                  actor=BillingActor.provider())
    return bool(in_ctx(client, app, clock, go))


async def test_partial_then_full_provider_refund(client: Any, app: Any, clock: Any, shop: Any) -> None:
    buyer, order_id = await paid_order(client, app, clock, shop)
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        assert provider_refund(client, app, clock, order_id, "re_a", 1000) is True
        assert provider_refund(client, app, clock, order_id, "re_a", 1000) is False  # the same refund again
        events = [(e["event"], e["data"]["amount"], e["data"]["status"]) for e in order_events(feed, 1)]
    assert events == [("order.refunded", 1000, "paid")]
    order = order_row(client, app, order_id)
    assert (order.status, order.amount_refunded) == ("paid", 1000)
    assert payments_of(client, app, order_id)[0].amount_refunded == 1000
    assert all(e.revoked_at is None for e in entitlements_of(client, app, buyer.contact_id))

    # pending first, then succeeded: counted when it succeeds, once
    assert provider_refund(client, app, clock, order_id, "re_b", 2000, status="pending") is True
    assert order_row(client, app, order_id).amount_refunded == 1000
    assert provider_refund(client, app, clock, order_id, "re_b", 2000) is True
    assert provider_refund(client, app, clock, order_id, "re_b", 2000) is False
    order = order_row(client, app, order_id)
    assert (order.status, order.amount_refunded) == ("refunded", 3000)
    [e] = entitlements_of(client, app, buyer.contact_id)
    assert e.revoked_at is not None and e.revoke_reason == "refunded"
    actions = [a.action for a in audit_of(client, app, order_id)]
    assert actions == ["order.paid"]  # refunds are audited under their own ids


async def test_a_renewal_refund_leaves_the_order_alone(client: Any, app: Any, clock: Any, shop: Any) -> None:
    product, price = await shop.on_sale(client, amount=1000, type="recurring", interval="month")
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)

    async def pay(ctx: Any) -> bool:
        return await mark_order_paid(ctx, await ctx.uow.session.get(Order, uuid.UUID(order_id)),
                                     actor=BillingActor.system())
    assert in_ctx(client, app, clock, pay) is True
    [first] = payments_of(client, app, order_id)
    renewal = Payment(team_id=first.team_id, hub_id=first.hub_id, order_id=first.order_id,
                      subscription_id=first.subscription_id, contact_id=first.contact_id, provider="manual",
                      amount=1000, currency="usd", amount_refunded=0, status="succeeded", paid_at=clock.now(),
                      created_at=clock.now(), updated_at=clock.now())
    db_write(client, app, renewal)
    dashboard = f"{shop.t}/dashboard"
    before = (await client.get(dashboard, headers=shop.staff.headers)).json()["data"]["attributes"]
    assert before["revenue"]["usd"] >= 2000  # the order's payment and the renewal's both count
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        r = await client.post(f"{shop.hub.url}/payments/{renewal.id}/refund",
                              json=doc("refunds", {"reason": "charged twice this month"}), headers=shop.wh)
        assert r.status_code == 201, r.text
        # not the order's money: no order.refunded, but the renewal's refund is announced
        [refunded] = order_events(feed, 1, kinds=("order.", "payment."))
    assert (refunded["event"], refunded["data"]["payment_id"], refunded["data"]["amount"]) == (
        "payment.refunded", str(renewal.id), 1000)
    assert refunded["data"]["order_id"] == order_id and refunded["data"]["amount_refunded"] == 1000
    after = (await client.get(dashboard, headers=shop.staff.headers)).json()["data"]["attributes"]
    assert after["revenue"]["usd"] == before["revenue"]["usd"] - 1000
    assert after["orders_paid"] == before["orders_paid"]
    order = order_row(client, app, order_id)
    assert (order.status, order.amount_refunded) == ("paid", 0)
    [e] = entitlements_of(client, app, buyer.contact_id)
    assert (e.source, e.revoked_at is not None) == ("subscription", True)  # that period's money went back


async def test_a_stripe_order_with_nothing_charged_records_no_payment(client: Any, app: Any, clock: Any,
                                                                      shop: Any) -> None:
    _, price = await shop.on_sale(client, amount=1000, type="recurring", interval="month", trial_period_days=7)
    buyer = await shop.buyer(client)
    order_id = write_order(client, app, clock, shop, buyer, price)
    db_write(client, app, sa.update(Order).where(Order.id == uuid.UUID(order_id)).values(provider="stripe"))
    before = (await client.get(f"{shop.t}/dashboard", headers=shop.staff.headers)).json()["data"]["attributes"]

    async def pay(ctx: Any) -> bool:  # checkout.session.completed with no_payment_required (a trial)
        return await mark_order_paid(ctx, await ctx.uow.session.get(Order, uuid.UUID(order_id)),
                                     actor=BillingActor.provider())
    with Listener(client, app, team_channel(shop.staff.team_id)) as feed:
        assert in_ctx(client, app, clock, pay) is True
        [paid] = order_events(feed, 1)
    assert (paid["event"], paid["data"]["amount"], paid["data"]["payment_status"]) == (
        "order.paid", 0, "no_payment_required")
    assert payments_of(client, app, order_id) == []
    after = (await client.get(f"{shop.t}/dashboard", headers=shop.staff.headers)).json()["data"]["attributes"]
    assert (after["orders_paid"], after["revenue"]) == (before["orders_paid"] + 1, before["revenue"])
