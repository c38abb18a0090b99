"""Refunds: staff giving money back, and refunds seen at the provider.

Staff refund a payment (:func:`refund_payment`) with a reason and an optional amount (none:
everything not refunded yet). A manual payment's refund is recorded at once (the money goes back
outside Hubwire). A Stripe payment's goes through Stripe, keyed ``refund-{refund id}``; the
refund's row is written first, so the idempotency key exists before the call, and it is applied
when Stripe says it ``succeeded`` (at once, or later through ``charge.refunded``).

:func:`apply_refund` is where a refund's money is counted, whoever reports it (staff's own call,
the ``charge.refunded`` handler): once per provider refund id. It adds to ``amount_refunded`` on
the payment and the order. A FULL refund of the payment sets the order ``refunded`` and revokes
the entitlements its purchase granted (source the order, and the subscription it started; for a
renewal's payment, the subscription); a partial one takes nothing away. Only the order's own
payment moves the order's ``amount_refunded`` and status, and announces ``order.refunded``; a
renewal's payment announces ``payment.refunded`` instead. ``order.refunded`` leaves on ``team:{id}`` after commit with the
amount refunded now. Every step writes a billing audit row with who did it.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.access.entitlements import check_reason, revoke_entitlements_from_source
from domain.catalog.fields import check_amount
from domain.commerce.audit import BillingActor, record_billing_action
from domain.commerce.orders import emit_order_event, emit_payment_event, lock_order
from domain.commerce.providers import PaymentProvider, RefundRequest
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.filters import filter_choice, filter_id
from persistence.models import Hub, Order, Payment, Refund, Subscription
from persistence.pagination import Page, PageRequest, paginate

PAYMENT_STATUSES = ("succeeded", "pending", "failed")


async def refund_payment(ctx: Ctx, hub: Hub, payment_id: uuid.UUID | None, *, reason: Any, amount: Any,
                         actor: BillingActor, provider: PaymentProvider | None) -> Refund:
    """Staff: refund ``amount`` (None: all that is left) of one of the hub's payments.

    422 ``invalid_reason`` / ``invalid_refund_amount`` (more than what is left, zero, negative,
    not an integer); 409 ``payment_not_refundable`` for a payment that did not succeed or is
    refunded already; 503 when Stripe is not configured or can't be reached (nothing changes)."""
    reason = check_reason(reason)
    payment = await get_hub_payment(ctx, hub, payment_id, lock=True)
    left = payment.amount - payment.amount_refunded
    if payment.status != "succeeded" or left <= 0:
        raise Conflict("This payment has nothing left to refund." if left <= 0 else
                       f"The payment is {payment.status}; only succeeded payments are refunded.",
                       code="payment_not_refundable", meta={"status": payment.status, "amount_refundable": max(left, 0)})
    if amount is None:
        amount = left
    else:
        amount = check_amount(amount, "amount", low=1, code="invalid_refund_amount")
        if amount > left:
            raise ValidationFailed(f"At most {left} is left to refund on this payment.", code="invalid_refund_amount",
                                   field="amount", meta={"amount_refundable": left})
    now = ctx.now()
    refund = Refund(team_id=payment.team_id, hub_id=payment.hub_id,
                    payment_id=payment.id, order_id=payment.order_id, provider=payment.provider,
                    provider_refund_id=None, amount=amount, currency=payment.currency, reason=reason,
                    status="pending", created_by_user_id=actor.user_id, created_at=now, updated_at=now)
    ctx.uow.session.add(refund)
    await ctx.uow.session.flush()
    await record_billing_action(ctx, actor, team_id=payment.team_id, hub_id=payment.hub_id, action="refund.created",
                                target_type="refund", target_id=refund.id, amount=amount, currency=payment.currency,
                                reason=reason, data={"payment_id": str(payment.id), "order_id": str(payment.order_id)})
    if payment.provider != "stripe":
        refund.status = "succeeded"
        await _count(ctx, payment, refund, actor)
        return refund
    if provider is None:
        raise Conflict("Stripe is not configured on this server, so its payments cannot be refunded here.",
                       code="payment_provider_not_configured")
    if not (payment.provider_payment_id or payment.provider_charge_id):
        raise Conflict("Stripe never named this payment; refund it in the Stripe dashboard.",
                       code="payment_not_refundable")
    made = await provider.refund(RefundRequest(
        refund_id=refund.id, order_id=payment.order_id, payment_id=payment.id, amount=amount, reason=reason,
        payment_intent_id=payment.provider_payment_id, charge_id=payment.provider_charge_id))
    refund.provider_refund_id, refund.status, refund.updated_at = made.id, made.status, ctx.now()
    await ctx.uow.session.flush()
    if made.status == "succeeded":
        await _count(ctx, payment, refund, actor)
    return refund


async def apply_refund(ctx: Ctx, payment: Payment, *, provider_refund_id: str, amount: int, status: str,
                       actor: BillingActor, reason: str | None = None) -> bool:
    """Record a refund the provider reports (``charge.refunded``), once per ``provider_refund_id``:
    its money is counted when it is (or becomes) ``succeeded``. False (and nothing changed) when
    this refund is already recorded in this status."""
    s = ctx.uow.session
    payment = await _lock_payment(ctx, payment.id)
    refund = await s.scalar(sa.select(Refund).where(Refund.provider == payment.provider,
                                                    Refund.provider_refund_id == provider_refund_id).with_for_update())
    now = ctx.now()
    if refund is None:
        refund = Refund(team_id=payment.team_id, hub_id=payment.hub_id, payment_id=payment.id,
                        order_id=payment.order_id, provider=payment.provider, provider_refund_id=provider_refund_id,
                        amount=amount, currency=payment.currency, reason=reason, status=status, created_at=now,
                        updated_at=now)
        s.add(refund)
        await s.flush()
        await record_billing_action(ctx, actor, team_id=payment.team_id, hub_id=payment.hub_id,
                                    action="refund.recorded", target_type="refund", target_id=refund.id, amount=amount,
                                    currency=payment.currency, reason=reason,
                                    data={"payment_id": str(payment.id), "provider_refund_id": provider_refund_id,
                                          "status": status})
        if status == "succeeded":
            await _count(ctx, payment, refund, actor)
        return True
    if refund.status == status:
        return False
    was = refund.status
    refund.status, refund.updated_at = status, now
    await s.flush()
    if status == "succeeded" and was != "succeeded":
        await _count(ctx, payment, refund, actor)
    return True


async def _count(ctx: Ctx, payment: Payment, refund: Refund, actor: BillingActor) -> None:
    """Add a succeeded refund's money to the payment, and to the order when it is the order's own
    payment (not a later renewal of its subscription); a full refund revokes what it paid for."""
    now = ctx.now()
    applied = min(refund.amount, payment.amount - payment.amount_refunded)
    payment.amount_refunded += applied
    payment.updated_at = now
    order = await lock_order(ctx, await ctx.uow.session.get(Order, payment.order_id))  # type: ignore[arg-type]
    own = await _first_payment_id(ctx, order) == payment.id
    if own:
        order.amount_refunded = min(order.amount_total, order.amount_refunded + applied)
        order.updated_at = now
    full = payment.amount_refunded >= payment.amount
    if full:
        if own and order.amount_refunded >= order.amount_total:
            order.status = "refunded"
        for source, source_id in await _sources(ctx, payment, order, own=own):
            await revoke_entitlements_from_source(ctx, source=source, source_id=source_id, reason="refunded",
                                                  team_id=order.team_id)
    await ctx.uow.session.flush()
    await record_billing_action(ctx, actor, team_id=payment.team_id, hub_id=payment.hub_id, action="refund.succeeded",
                                target_type="refund", target_id=refund.id, amount=applied, currency=payment.currency,
                                reason=refund.reason, data={"payment_id": str(payment.id), "order_id": str(order.id),
                                                            "full": full, "renewal": not own})
    if own:
        emit_order_event(ctx, order, "order.refunded", amount=applied)
    else:
        emit_payment_event(ctx, payment, "payment.refunded", amount=applied)


async def _first_payment_id(ctx: Ctx, order: Order) -> uuid.UUID | None:
    return await ctx.uow.session.scalar(sa.select(Payment.id).where(Payment.order_id == order.id)
                                        .order_by(Payment.id).limit(1))


async def _sources(ctx: Ctx, payment: Payment, order: Order, *, own: bool) -> list[tuple[str, str]]:
    """What the refunded payment paid for: the order and the subscription it started (its own
    payment), or the subscription it renewed (a renewal's)."""
    sub_ids = {payment.subscription_id} if payment.subscription_id else set()
    if not own:
        return [("subscription", str(s)) for s in sorted(sub_ids)]
    sub_ids |= set(await ctx.uow.session.scalars(sa.select(Subscription.id).where(Subscription.order_id == order.id)))
    return [("order", str(order.id))] + [("subscription", str(s)) for s in sorted(sub_ids)]


async def _lock_payment(ctx: Ctx, payment_id: uuid.UUID) -> Payment:
    found = await ctx.uow.session.scalar(sa.select(Payment).where(Payment.id == payment_id).with_for_update()
                                         .execution_options(populate_existing=True))
    if found is None:
        raise NotFound("Payment not found.")
    return found


# ---- queries --------------------------------------------------------------------------------------------


async def get_hub_payment(ctx: Ctx, hub: Hub, payment_id: uuid.UUID | None, *, lock: bool = False) -> Payment:
    """One of the hub's payments, or 404 (another hub's or team's, a malformed id)."""
    payment = await ctx.uow.session.get(Payment, payment_id) if payment_id else None
    if payment is None or payment.hub_id != hub.id or payment.team_id != hub.team_id:
        raise NotFound("Payment not found.")
    return await _lock_payment(ctx, payment.id) if lock else payment


async def list_hub_payments(ctx: Ctx, hub: Hub, page: PageRequest, *, status: str | None = None,
                            order_id: str | None = None, contact_id: str | None = None) -> Page[Payment]:
    """The hub's payments, newest first; filter by status, order and contact."""
    stmt = sa.select(Payment).where(Payment.hub_id == hub.id, Payment.team_id == hub.team_id)
    if filter_choice(status, "status", PAYMENT_STATUSES) is not None:
        stmt = stmt.where(Payment.status == status)
    for name, value, column in (("order_id", order_id, Payment.order_id), ("contact_id", contact_id, Payment.contact_id)):
        if (parsed := filter_id(value, name)) is not None:
            stmt = stmt.where(column == parsed)
    return await paginate(ctx.uow.session, stmt, Payment.id, page, newest_first=True)
