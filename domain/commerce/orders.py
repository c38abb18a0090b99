"""Orders: the state changes every payment path shares, and the queries staff and members read.

Checkout (``checkout.py``) creates an order ``pending``; from there it is moved by exactly these
functions, whoever calls them (a free checkout, staff marking a manual order paid, a Stripe event
handled by the worker, a job):

- :func:`mark_order_paid`: ``paid``, its payment stored, its deliverables granted, an audit row,
  ``order.paid`` on ``team:{id}`` after commit;
- :func:`mark_order_failed` / :func:`expire_order`: ``failed`` / ``expired``, its coupon redemption
  released so the code can be used again.

Each locks the order row first and returns False, changing nothing, when the order is already
past that step, so a webhook delivered twice (even to two instances at once) or a double click
applies once. Refunds are in ``refunds.py``.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from domain.commerce.audit import BillingActor, record_billing_action
from domain.commerce.fulfilment import fulfil
from domain.context import Ctx
from domain.errors import Conflict, NotFound
from domain.events import OrderChanged, PaymentChanged, emit
from domain.events.channels import team_channel
from domain.filters import filter_choice, filter_id
from persistence.models import Coupon, CouponRedemption, Hub, Order, Payment, Price, Subscription
from persistence.pagination import Page, PageRequest, paginate

__all__ = ["BillingActor", "PaidWith", "expire_order", "mark_order_failed", "mark_order_paid"]

ORDER_STATUSES = ("pending", "paid", "failed", "canceled", "expired", "refunded")
# Providers whose recurring prices Hubwire bills itself: a paid order starts a local subscription.
LOCAL_PROVIDERS = ("manual", "free")


@dataclass(frozen=True)
class PaidWith:
    """The payment the provider reports for an order (amounts in minor units)."""

    provider_payment_id: str | None
    provider_charge_id: str | None
    amount: int
    currency: str
    paid_at: datetime


async def lock_order(ctx: Ctx, order: Order) -> Order:
    """The order re-read under a row lock (PostgreSQL ``FOR UPDATE``; SQLite serializes writers),
    so concurrent transitions of one order take turns and the second sees the first's result."""
    locked = await ctx.uow.session.scalar(
        sa.select(Order).where(Order.id == order.id).with_for_update().execution_options(populate_existing=True))
    if locked is None:
        raise NotFound("Order not found.")
    return locked


async def mark_order_paid(ctx: Ctx, order: Order, *, actor: BillingActor, payment: PaidWith | None = None,
                          subscription: Subscription | None = None) -> bool:
    """Record the order as paid and deliver it. False (and nothing changed) when it is already
    ``paid`` or ``refunded``.

    ``payment`` is the provider's; without one, a manual order with something to pay (staff
    marking it paid) gets a ``manual`` payment of its total, and any other order none
    (``payment_status`` ``no_payment_required``: free, or a trial). Deliverables are
    granted with source ``subscription`` when ``subscription`` is given, or when the price is
    recurring and Hubwire bills it itself (manual or free: a local subscription is created for one
    period); otherwise with source ``order``."""
    order = await lock_order(ctx, order)
    if order.status in ("paid", "refunded"):
        return False
    s, now = ctx.uow.session, ctx.now()
    paid_at = payment.paid_at if payment is not None else now
    row = await _store_payment(ctx, order, payment, subscription)
    order.status, order.paid_at, order.updated_at = "paid", paid_at, now
    # Stripe's words: nothing was charged now (a free order, a trial) is ``no_payment_required``.
    order.payment_status = "paid" if row is not None else "no_payment_required"
    if payment is not None and payment.provider_payment_id and order.provider_payment_intent_id is None:
        order.provider_payment_intent_id = payment.provider_payment_id
    if subscription is None and order.provider in LOCAL_PROVIDERS:
        price = await s.get(Price, order.price_id)
        if price is not None and price.type == "recurring":
            subscription = await _local_subscription(ctx, order, price)
            if row is not None:
                row.subscription_id = subscription.id
    await s.flush()
    if subscription is not None:
        await fulfil(ctx, order, source="subscription", source_id=str(subscription.id))
    else:
        await fulfil(ctx, order, source="order", source_id=str(order.id))
    await record_billing_action(
        ctx, actor, team_id=order.team_id, hub_id=order.hub_id, action="order.paid", target_type="order",
        target_id=order.id, amount=row.amount if row is not None else order.amount_total, currency=order.currency,
        data={"provider": order.provider, "payment_id": str(row.id) if row else None,
              "subscription_id": str(subscription.id) if subscription else None})
    emit_order_event(ctx, order, "order.paid", amount=order.amount_total if row is not None else 0)
    return True


async def mark_order_failed(ctx: Ctx, order: Order, *, reason: str, actor: BillingActor) -> bool:
    """The order's payment failed: ``failed``, its coupon redemption released. False (and nothing
    changed) unless the order was ``pending``."""
    return await _close(ctx, order, "failed", actor=actor, reason=reason)


async def expire_order(ctx: Ctx, order: Order, *, actor: BillingActor) -> bool:
    """The order was never paid and can no longer be (its checkout expired): ``expired``, its coupon
    redemption released. False (and nothing changed) unless the order was ``pending``."""
    return await _close(ctx, order, "expired", actor=actor, reason=None)


async def _close(ctx: Ctx, order: Order, status: str, *, actor: BillingActor, reason: str | None) -> bool:
    order = await lock_order(ctx, order)
    if order.status != "pending":
        return False
    now = ctx.now()
    order.status, order.updated_at = status, now
    if status != "failed":
        order.canceled_at = now
    await release_redemption(ctx, order)
    await record_billing_action(ctx, actor, team_id=order.team_id, hub_id=order.hub_id, action=f"order.{status}",
                                target_type="order", target_id=order.id, reason=reason,
                                data={"provider": order.provider})
    return True


async def release_redemption(ctx: Ctx, order: Order) -> None:
    """Give the order's coupon use back (once: the redemption row is deleted, and the coupon's
    count goes down only when a row was)."""
    s = ctx.uow.session
    gone = (await s.execute(sa.delete(CouponRedemption).where(CouponRedemption.order_id == order.id)
                            .returning(CouponRedemption.coupon_id))).scalars().all()
    for coupon_id in gone:
        if coupon_id is not None:
            await s.execute(sa.update(Coupon).where(Coupon.id == coupon_id, Coupon.times_redeemed > 0)
                            .values(times_redeemed=Coupon.times_redeemed - 1))


async def _store_payment(ctx: Ctx, order: Order, paid: PaidWith | None,
                         subscription: Subscription | None) -> Payment | None:
    s, now = ctx.uow.session, ctx.now()
    if paid is None:
        # Staff marking a manual order paid: its total arrived outside Hubwire. Any other provider
        # reports its payment; none (a trial, a free order) means nothing was charged.
        if order.amount_total <= 0 or order.provider != "manual":
            return None
        paid = PaidWith(None, None, order.amount_total, order.currency, now)
    elif paid.provider_payment_id is not None:
        existing = await s.scalar(sa.select(Payment).where(Payment.provider == order.provider,
                                                           Payment.provider_payment_id == paid.provider_payment_id))
        if existing is not None:  # stored already (by another event of the same payment)
            return existing
    row = Payment(team_id=order.team_id, hub_id=order.hub_id, order_id=order.id,
                  subscription_id=subscription.id if subscription else None, contact_id=order.contact_id,
                  provider=order.provider, provider_payment_id=paid.provider_payment_id,
                  provider_charge_id=paid.provider_charge_id, amount=paid.amount, currency=paid.currency.lower(),
                  amount_refunded=0, status="succeeded", paid_at=paid.paid_at, created_at=now, updated_at=now)
    s.add(row)
    await s.flush()
    return row


async def _local_subscription(ctx: Ctx, order: Order, price: Price) -> Subscription:
    now = ctx.now()
    existing = await ctx.uow.session.scalar(sa.select(Subscription).where(Subscription.order_id == order.id))
    if existing is not None:
        return existing
    trial = price.trial_period_days or 0
    end = now + timedelta(days=trial) if trial else add_interval(now, price.interval or "month",
                                                                   price.interval_count or 1)
    sub = Subscription(team_id=order.team_id, hub_id=order.hub_id, contact_id=order.contact_id, order_id=order.id,
                       product_id=order.product_id, price_id=order.price_id, provider=order.provider,
                       provider_subscription_id=None, status="trialing" if trial else "active",
                       current_period_start=now, current_period_end=end, cancel_at_period_end=False,
                       trial_end=end if trial else None, state_at=now, created_at=now, updated_at=now)
    ctx.uow.session.add(sub)
    await ctx.uow.session.flush()
    return sub


def add_interval(at: datetime, interval: str, count: int) -> datetime:
    """``at`` plus ``count`` × ``interval`` (day, week, month, year), months clamped to the
    month's last day as Stripe does (Jan 31 + 1 month = Feb 28/29)."""
    if interval == "day":
        return at + timedelta(days=count)
    if interval == "week":
        return at + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    y, m = divmod(at.month - 1 + months, 12)
    year, month = at.year + y, m + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def emit_order_event(ctx: Ctx, order: Order, name: str, *, amount: int) -> None:
    """Queue ``order.created`` / ``order.paid`` / ``order.refunded`` on the team's channel."""
    emit(ctx.uow, team_channel(order.team_id), name, OrderChanged(
        order_id=str(order.id), hub_id=str(order.hub_id), contact_id=str(order.contact_id),
        product_id=str(order.product_id), price_id=str(order.price_id), provider=order.provider,
        status=order.status, payment_status=order.payment_status, currency=order.currency,
        amount_total=order.amount_total, amount_refunded=order.amount_refunded, amount=amount,
        paid_at=order.paid_at, created_at=order.created_at), ctx.now())


def emit_payment_event(ctx: Ctx, payment: Payment, name: str, *, amount: int) -> None:
    """Queue ``payment.succeeded`` / ``payment.refunded`` on the team's channel: a renewal's money
    (the order's own payment is announced by ``order.paid`` / ``order.refunded``)."""
    emit(ctx.uow, team_channel(payment.team_id), name, PaymentChanged(
        payment_id=str(payment.id), order_id=str(payment.order_id),
        subscription_id=str(payment.subscription_id) if payment.subscription_id else None,
        hub_id=str(payment.hub_id), contact_id=str(payment.contact_id), provider=payment.provider,
        status=payment.status, currency=payment.currency, amount_total=payment.amount,
        amount_refunded=payment.amount_refunded, amount=amount, paid_at=payment.paid_at), ctx.now())


# ---- queries --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    contact_id: str | None = None
    product_id: str | None = None


async def list_hub_orders(ctx: Ctx, hub: Hub, page: PageRequest, filters: OrderFilters) -> Page[Order]:
    """The hub's orders, newest first, filtered by exact status, contact and product."""
    stmt = sa.select(Order).where(Order.hub_id == hub.id, Order.team_id == hub.team_id)
    if filter_choice(filters.status, "status", ORDER_STATUSES) is not None:
        stmt = stmt.where(Order.status == filters.status)
    if (contact_id := filter_id(filters.contact_id, "contact_id")) is not None:
        stmt = stmt.where(Order.contact_id == contact_id)
    if (product_id := filter_id(filters.product_id, "product_id")) is not None:
        stmt = stmt.where(Order.product_id == product_id)
    return await paginate(ctx.uow.session, stmt, Order.id, page, newest_first=True)


async def get_hub_order(ctx: Ctx, hub: Hub, order_id: uuid.UUID | None) -> Order:
    """One of the hub's orders, or 404 (another hub's or team's, a malformed id)."""
    order = await ctx.uow.session.get(Order, order_id) if order_id else None
    if order is None or order.hub_id != hub.id or order.team_id != hub.team_id:
        raise NotFound("Order not found.")
    return order


async def list_member_orders(ctx: Ctx, *, hub_id: uuid.UUID, contact_id: uuid.UUID,
                             page: PageRequest) -> Page[Order]:
    """The member's own orders in this hub, newest first."""
    stmt = sa.select(Order).where(Order.hub_id == hub_id, Order.contact_id == contact_id)
    return await paginate(ctx.uow.session, stmt, Order.id, page, newest_first=True)


async def mark_manual_order_paid(ctx: Ctx, hub: Hub, order_id: uuid.UUID | None, *, actor: BillingActor) -> Order:
    """Staff: a manual order's money arrived (bank transfer, invoice). 409 ``order_not_manual``
    for another provider's order, 409 ``order_not_pending`` unless it is pending."""
    order = await get_hub_order(ctx, hub, order_id)
    if order.provider != "manual":
        raise Conflict("Only orders of the manual provider are marked paid by staff.", code="order_not_manual")
    order = await lock_order(ctx, order)
    if order.status != "pending":
        raise Conflict(f"The order is {order.status}, not pending.", code="order_not_pending",
                       meta={"status": order.status})
    await mark_order_paid(ctx, order, actor=actor)
    return order



async def get_member_order(ctx: Ctx, *, hub_id: uuid.UUID, contact_id: uuid.UUID,
                           order_id: uuid.UUID | None) -> Order:
    """One of the member's own orders in this hub, or 404."""
    order = await ctx.uow.session.get(Order, order_id) if order_id else None
    if order is None or order.hub_id != hub_id or order.contact_id != contact_id:
        raise NotFound("Order not found.")
    return order
