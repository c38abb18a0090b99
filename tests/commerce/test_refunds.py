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
from tests.support.app import Listener
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
