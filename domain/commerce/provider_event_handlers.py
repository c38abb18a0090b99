"""The dispatch table: which handler applies which provider event (Stripe's event types).

The worker (``provider_event_worker.py``) matches each event to its order first (``event.order``;
None when no order of ours is named yet) and calls ``HANDLERS[event.type](ctx, event)`` in the
event's transaction. A handler:

- applies the event and returns None (the event is ``processed``); it must be idempotent, because a
  replay runs it again: check the state you are about to write (an order already ``paid``, a
  payment already stored under its charge id) and change nothing the second time;
- returns ``Ignored(reason)`` when the event asks nothing of us (also: a subscription state older
  than the one we hold);
- raises ``NotYetKnown`` when it needs an object we do not have yet (``event.order`` None, a
  subscription or payment not stored yet); the worker rolls back and tries again later;
- for subscription state, applies it only when the event is not older than
  ``subscriptions.state_at`` (the event's ``created``), and never moves away from ``canceled``
  (``subscriptions.py``).

What each event does (docs/api.md, "Subscriptions and Stripe webhooks"):

- ``checkout.session.completed``: stores the session's ids on the order; ``paid`` or
  ``no_payment_required`` → the order is paid (``orders.mark_order_paid``: payment, deliverables);
  ``unpaid`` → it waits for ``checkout.session.async_payment_succeeded`` (paid) or ``…_failed``
  (failed, coupon released). In subscription mode the subscription is stored too and the
  deliverables are granted with source ``subscription``. ``checkout.session.expired`` → expired.
- ``customer.subscription.created/updated/deleted``: the subscription's state, in order, and the
  access window it gives; ``…trial_will_end``: an email to the member, once.
- ``invoice.paid``: the payment is recorded once per payment intent; the first invoice pays the order
  if its session's event has not come yet (a renewal's payment is announced as
  ``payment.succeeded``); a ``past_due`` subscription is ``active`` again and access is restored. ``invoice.payment_failed``: the failed payment is recorded (the subscription's
  ``past_due`` comes with its own event, and access runs on through the grace period).
- ``charge.refunded``: each refund on the charge is applied once (``refunds.apply_refund``: a full
  refund revokes, a partial one does not).
- ``charge.dispute.created/closed``: the payment's ``dispute_status``; a lost dispute revokes the
  access the order or its subscription gave.

Types not in the table are ``ignored`` ("Hubwire does not act on this event"). ``handlers(grace)``
builds the table with another past-due grace period (the setting ``HUBWIRE_PAST_DUE_GRACE_SECONDS``).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.access.entitlements import revoke_entitlements_from_source
from domain.commerce.audit import BillingActor
from domain.commerce.matching import provider_charge_id, provider_payment_intent_id, provider_subscription_id
from domain.commerce.orders import (
    PaidWith,
    emit_payment_event,
    expire_order,
    lock_order,
    mark_order_failed,
    mark_order_paid,
)
from domain.commerce.provider_events import Handler, Ignored, NotYetKnown, ProviderEvent
from domain.commerce.refunds import apply_refund
from domain.commerce.subscriptions import (
    DEFAULT_GRACE,
    PROVIDER,
    SubscriptionState,
    apply_state,
    ensure_subscription,
    find_subscription,
    sync_access,
    timestamp,
)
from domain.context import Ctx
from domain.email.outbox import enqueue_email
from persistence.ids import new_id
from persistence.models import BillingAuditEntry, Contact, Order, Payment, Subscription


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _at(ctx: Ctx, event: ProviderEvent) -> datetime:
    """The event's own time (Stripe's ``created``), which orders states; now if it has none."""
    return event.created or timestamp(event.object.get("created")) or ctx.now()


def _need_order(event: ProviderEvent) -> Order:
    if event.order is None:
        raise NotYetKnown(f"{event.type}: no order of ours is named by {event.object.get('id')!r} yet")
    return event.order


def _audit(ctx: Ctx, order: Order, action: str, target_type: str, target_id: Any, *, amount: int | None = None,
           currency: str | None = None, data: dict[str, Any] | None = None) -> None:
    ctx.uow.session.add(BillingAuditEntry(
        id=new_id(), team_id=order.team_id, hub_id=order.hub_id, actor_type="provider", action=action,
        target_type=target_type, target_id=target_id, amount=amount, currency=currency, data=data or {},
        created_at=ctx.now()))


# ---- checkout sessions -----------------------------------------------------------------------------------


def _remember_session(order: Order, session: dict[str, Any]) -> None:
    order.provider_session_id = order.provider_session_id or _str(session.get("id"))
    order.provider_customer_id = order.provider_customer_id or _str(session.get("customer"))
    order.provider_payment_intent_id = order.provider_payment_intent_id or _str(session.get("payment_intent"))


async def _session_subscription(ctx: Ctx, order: Order, session: dict[str, Any]) -> Subscription | None:
    sub_id = _str(session.get("subscription"))
    if session.get("mode") != "subscription" or sub_id is None:
        return None
    return await ensure_subscription(ctx, order, sub_id, status="active")


async def _pay_from_session(ctx: Ctx, event: ProviderEvent, order: Order, session: dict[str, Any],
                            grace: timedelta) -> None:
    sub = await _session_subscription(ctx, order, session)
    # The payment as the session knows it: its payment intent (payment mode), or its first invoice
    # (subscription mode; invoice.paid replaces that id with the invoice's payment intent). Always
    # given, so a trial or a free session records what was really paid (0), not the price.
    payment = PaidWith(provider_payment_id=_str(session.get("payment_intent")) or _str(session.get("invoice")),
                       provider_charge_id=None, amount=_int(session.get("amount_total")),
                       currency=str(session.get("currency") or order.currency), paid_at=_at(ctx, event))
    await mark_order_paid(ctx, order, actor=BillingActor.provider(), payment=payment, subscription=sub)
    if sub is not None:
        await sync_access(ctx, sub, grace=grace)


async def handle_checkout_session_completed(ctx: Ctx, event: ProviderEvent, *,
                                            grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """``paid`` / ``no_payment_required``: the order is paid and its deliverables granted;
    ``unpaid``: it waits for the async payment's outcome."""
    order, session = _need_order(event), event.object
    _remember_session(order, session)
    if session.get("payment_status") in ("paid", "no_payment_required"):
        await _pay_from_session(ctx, event, order, session, grace)
        return None
    await _session_subscription(ctx, order, session)
    if order.status == "pending":
        order.payment_status = "unpaid"
    return None


async def handle_checkout_session_async_payment_succeeded(ctx: Ctx, event: ProviderEvent, *,
                                                          grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """The delayed payment went through: the order is paid, its deliverables granted."""
    order = _need_order(event)
    _remember_session(order, event.object)
    await _pay_from_session(ctx, event, order, event.object, grace)
    return None


async def handle_checkout_session_async_payment_failed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """The delayed payment failed: the order is failed and its coupon redemption released."""
    order = _need_order(event)
    _remember_session(order, event.object)
    if not await mark_order_failed(ctx, order, reason="The payment failed at the provider.",
                                   actor=BillingActor.provider()):
        return Ignored(f"{event.type}: the order is already {order.status}")
    return None


async def handle_checkout_session_expired(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Nobody paid in time: the pending order is expired and its coupon redemption released."""
    order = _need_order(event)
    if not await expire_order(ctx, order, actor=BillingActor.provider()):
        return Ignored(f"{event.type}: the order is already {order.status}")
    return None


# ---- invoices --------------------------------------------------------------------------------------------


def _invoice_intent(invoice: dict[str, Any]) -> str | None:
    """The payment intent that paid (or tried to pay) the invoice: its newest ``payments`` entry
    (current API versions), else the older top-level ``payment_intent``."""
    payments = _dict(invoice.get("payments")).get("data")
    for entry in reversed(payments if isinstance(payments, list) else []):
        found = _str(_dict(_dict(entry).get("payment")).get("payment_intent"))
        if found:
            return found
    return _str(invoice.get("payment_intent"))


def _invoice_period(invoice: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    lines = _dict(invoice.get("lines")).get("data")
    for line in lines if isinstance(lines, list) else []:
        period = _dict(_dict(line).get("period"))
        if period.get("end"):
            return timestamp(period.get("start")), timestamp(period.get("end"))
    return timestamp(invoice.get("period_start")), timestamp(invoice.get("period_end"))


async def _invoice_subscription(ctx: Ctx, event: ProviderEvent) -> tuple[Order, Subscription] | None:
    sub_id = provider_subscription_id(event.object)
    if sub_id is None:
        return None
    sub = await find_subscription(ctx, event.provider, sub_id)
    if sub is None:
        sub = await ensure_subscription(ctx, _need_order(event), sub_id, status="active")
    order = event.order or await ctx.uow.session.get(Order, sub.order_id)
    assert order is not None
    return order, sub


async def _record_payment(ctx: Ctx, order: Order, sub: Subscription, intent: str, *, amount: int, currency: str,
                          status: str, at: datetime, invoice_id: str | None = None) -> Payment | None:
    """A subscription invoice's payment, once per payment intent (a failed attempt that later
    succeeds is updated). The first invoice's payment, stored by the session's event under the
    invoice's id, gets its payment intent's id (what a refund names). Answers the row when this
    call created or changed it."""
    s = ctx.uow.session
    found = await s.scalar(sa.select(Payment).where(
        Payment.provider == order.provider, Payment.provider_payment_id == intent).with_for_update())
    if found is None and invoice_id is not None:
        found = await s.scalar(sa.select(Payment).where(
            Payment.provider == order.provider, Payment.provider_payment_id == invoice_id).with_for_update())
        if found is not None:
            found.provider_payment_id = intent
            if found.subscription_id is None:
                found.subscription_id = sub.id
            await s.flush()
            return None  # the same payment, now under its payment intent: nothing new to audit
    now = ctx.now()
    if found is not None:
        if found.subscription_id is None:
            found.subscription_id = sub.id
        if found.status == status:
            return None
        found.status, found.updated_at = status, now
        found.paid_at = at if status == "succeeded" else found.paid_at
        return found
    payment = Payment(
        id=new_id(), team_id=order.team_id, hub_id=order.hub_id, order_id=order.id, subscription_id=sub.id,
        contact_id=order.contact_id, provider=order.provider, provider_payment_id=intent, provider_charge_id=None,
        amount=amount, currency=currency, amount_refunded=0, status=status,
        paid_at=at if status == "succeeded" else None, created_at=now, updated_at=now)
    ctx.uow.session.add(payment)
    await ctx.uow.session.flush()
    return payment


async def handle_invoice_paid(ctx: Ctx, event: ProviderEvent, *, grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """A subscription's invoice is paid: the payment recorded once, the order paid if this is its
    first invoice and the session's event has not come yet, a ``past_due`` subscription ``active``
    again with its access restored."""
    found = await _invoice_subscription(ctx, event)
    if found is None:
        return Ignored(f"{event.type}: not a subscription's invoice")
    order, sub = found
    invoice, at = event.object, _at(ctx, event)
    intent = _invoice_intent(invoice)
    amount = _int(invoice.get("amount_paid"))
    currency = str(invoice.get("currency") or order.currency)
    if order.status == "pending":  # the session's event is late: this first invoice pays the order
        await mark_order_paid(ctx, order, actor=BillingActor.provider(), subscription=sub, payment=PaidWith(
            provider_payment_id=intent or _str(invoice.get("id")), provider_charge_id=None, amount=amount,
            currency=currency, paid_at=at))
    elif intent is not None and amount > 0 and (renewal := await _record_payment(
            ctx, order, sub, intent, amount=amount, currency=currency, status="succeeded", at=at,
            invoice_id=_str(invoice.get("id")))) is not None:
        _audit(ctx, order, "payment.succeeded", "subscription", sub.id, amount=amount, currency=currency,
               data={"invoice": invoice.get("id"), "billing_reason": invoice.get("billing_reason")})
        emit_payment_event(ctx, renewal, "payment.succeeded", amount=renewal.amount)
    start, end = _invoice_period(invoice)
    if sub.status in ("past_due", "unpaid", "incomplete") and (sub.state_at is None or at >= sub.state_at):
        state = SubscriptionState(
            status="active", cancel_at_period_end=sub.cancel_at_period_end,
            current_period_start=start if end and (sub.current_period_end is None or end >= sub.current_period_end)
            else sub.current_period_start,
            current_period_end=max(filter(None, (end, sub.current_period_end)), default=None),
            canceled_at=sub.canceled_at, trial_end=sub.trial_end)
        await apply_state(ctx, sub, state, at=at, actor=PROVIDER, grace=grace, force=True)
    else:
        await sync_access(ctx, sub, grace=grace)
    return None


async def handle_invoice_payment_failed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """A renewal's payment failed: recorded as a failed payment. The subscription's ``past_due``
    (and the grace period) comes with its own ``customer.subscription.updated``."""
    found = await _invoice_subscription(ctx, event)
    if found is None:
        return Ignored(f"{event.type}: not a subscription's invoice")
    order, sub = found
    intent = _invoice_intent(event.object)
    if intent is None:
        return Ignored(f"{event.type}: the invoice names no payment attempt")
    amount = _int(event.object.get("amount_due"))
    currency = str(event.object.get("currency") or order.currency)
    if await _record_payment(ctx, order, sub, intent, amount=amount, currency=currency, status="failed",
                             at=_at(ctx, event)) is not None:
        _audit(ctx, order, "payment.failed", "subscription", sub.id, amount=amount, currency=currency,
               data={"invoice": event.object.get("id"), "attempt_count": event.object.get("attempt_count")})
    return None


# ---- subscriptions ---------------------------------------------------------------------------------------


async def _apply_subscription(ctx: Ctx, event: ProviderEvent, kind: str, grace: timedelta) -> Ignored | None:
    sub_id = provider_subscription_id(event.object)
    if sub_id is None:
        return Ignored(f"{event.type}: the object is not a subscription")
    sub = await find_subscription(ctx, event.provider, sub_id)
    if sub is None:
        sub = await ensure_subscription(ctx, _need_order(event), sub_id)
    at = _at(ctx, event)
    if not await apply_state(ctx, sub, SubscriptionState.from_stripe(event.object), at=at, actor=PROVIDER,
                             previous=event.previous_attributes, kind=kind, grace=grace):
        if sub.status == "canceled":
            return Ignored(f"{event.type}: the subscription is canceled, which is final")
        held = sub.state_at.isoformat() if sub.state_at else "none"
        return Ignored(f"{event.type}: older than the state we hold (event {at.isoformat()}, held {held}, "
                       f"status {sub.status})")
    return None


async def handle_customer_subscription_created(ctx: Ctx, event: ProviderEvent, *,
                                               grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """Store the subscription (status, periods), unless we already hold a state as new."""
    return await _apply_subscription(ctx, event, "created", grace)


async def handle_customer_subscription_updated(ctx: Ctx, event: ProviderEvent, *,
                                               grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """Apply status / period / cancel_at_period_end in order, and the access window they give."""
    return await _apply_subscription(ctx, event, "updated", grace)


async def handle_customer_subscription_deleted(ctx: Ctx, event: ProviderEvent, *,
                                               grace: timedelta = DEFAULT_GRACE) -> Ignored | None:
    """The subscription is canceled (for good) and its access ends at ``ended_at``."""
    return await _apply_subscription(ctx, event, "deleted", grace)


async def handle_customer_subscription_trial_will_end(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Tell the member their trial ends soon (one email per event, through the outbox)."""
    sub_id = provider_subscription_id(event.object)
    sub = await find_subscription(ctx, event.provider, sub_id, lock=False) if sub_id else None
    if sub is None:
        if event.order is None:
            raise NotYetKnown(f"{event.type}: subscription {sub_id!r} is not stored yet")
        sub = await ensure_subscription(ctx, event.order, str(sub_id))
    contact = await ctx.uow.session.get(Contact, sub.contact_id)
    if contact is None or not contact.email:
        return Ignored(f"{event.type}: the member has no email address")
    ends = timestamp(event.object.get("trial_end")) or sub.trial_end
    when = ends.strftime("%Y-%m-%d %H:%M UTC") if ends else "soon"
    await enqueue_email(ctx.uow, ctx.now(), idempotency_key=f"trial_will_end:{event.provider}:{event.id}",
                        kind="trial_will_end", to_email=contact.email, subject="Your trial ends soon",
                        text_body=f"Your free trial ends on {when}. Your subscription then continues "
                                  "and your payment method is charged, unless you cancel before.",
                        team_id=sub.team_id, hub_id=sub.hub_id)
    return None


# ---- charges: refunds and disputes -----------------------------------------------------------------------


async def _charge_payment(ctx: Ctx, event: ProviderEvent) -> Payment:
    """The payment an event's charge (or dispute) is about, locked; NotYetKnown until it is stored."""
    obj, s = event.object, ctx.uow.session
    charge_id, intent = provider_charge_id(obj), provider_payment_intent_id(obj)
    found = None
    if charge_id is not None:
        found = await s.scalar(sa.select(Payment).where(Payment.provider == event.provider,
                                                        Payment.provider_charge_id == charge_id)
                               .order_by(Payment.id).limit(1).with_for_update())
    if found is None and intent is not None:
        found = await s.scalar(sa.select(Payment).where(Payment.provider == event.provider,
                                                        Payment.provider_payment_id == intent)
                               .order_by(Payment.id).limit(1).with_for_update())
    if found is None:
        raise NotYetKnown(f"{event.type}: no payment of ours for charge {charge_id!r} / intent {intent!r} yet")
    if found.provider_charge_id is None and charge_id is not None:
        found.provider_charge_id = charge_id
    return found


async def handle_charge_refunded(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Each refund on the charge, applied once by its id (``refunds.apply_refund``): a full refund
    revokes the order's (or subscription's) access, a partial one does not."""
    payment = await _charge_payment(ctx, event)
    charge = event.object
    listed = _dict(charge.get("refunds")).get("data")
    refunds = [r for r in (listed if isinstance(listed, list) else []) if isinstance(r, dict) and _str(r.get("id"))]
    applied = 0
    if refunds:
        for r in sorted(refunds, key=lambda r: (_int(r.get("created")), str(r.get("id")))):
            applied += await apply_refund(ctx, payment, provider_refund_id=str(r["id"]), amount=_int(r.get("amount")),
                                          status=str(r.get("status") or "succeeded"), actor=BillingActor.provider(),
                                          reason=r.get("reason") if isinstance(r.get("reason"), str) else None)
    else:
        # The charge's refunds are not listed (not expanded): what was refunded beyond what we hold,
        # under an id that names the charge's refunded total, so a replay applies nothing twice.
        total = _int(charge.get("amount_refunded"))
        if total > payment.amount_refunded:
            applied += await apply_refund(ctx, payment, provider_refund_id=f"{charge.get('id')}:refunded:{total}",
                                          amount=total - payment.amount_refunded, status="succeeded",
                                          actor=BillingActor.provider())
    return None if applied else Ignored(f"{event.type}: every refund on the charge is applied already")


async def handle_charge_dispute_created(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Record the dispute on the payment (``dispute_status``); access stays while it is open."""
    payment = await _charge_payment(ctx, event)
    status = str(event.object.get("status") or "needs_response")
    if payment.dispute_status in ("won", "lost"):
        return Ignored(f"{event.type}: the dispute is already closed ({payment.dispute_status})")
    if payment.dispute_status == status:
        return Ignored(f"{event.type}: already recorded")
    payment.dispute_status, payment.updated_at = status, ctx.now()
    order = await ctx.uow.session.get(Order, payment.order_id)
    assert order is not None
    _audit(ctx, order, "payment.disputed", "payment", payment.id, amount=_int(event.object.get("amount")),
           currency=payment.currency, data={"dispute": event.object.get("id"), "reason": event.object.get("reason")})
    return None


async def handle_charge_dispute_closed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Record the outcome; a lost dispute revokes like a full refund (the order's and its
    subscription's entitlements), a won one changes nothing else."""
    payment = await _charge_payment(ctx, event)
    status = str(event.object.get("status") or "")
    if payment.dispute_status == status:
        return Ignored(f"{event.type}: already recorded")
    payment.dispute_status, payment.updated_at = status, ctx.now()
    order = await ctx.uow.session.get(Order, payment.order_id)
    assert order is not None
    _audit(ctx, order, f"payment.dispute_{status or 'closed'}", "payment", payment.id,
           amount=_int(event.object.get("amount")), currency=payment.currency,
           data={"dispute": event.object.get("id")})
    if status == "lost":
        reason = "The payment's dispute was lost."
        await revoke_entitlements_from_source(ctx, source="order", source_id=str(order.id), reason=reason,
                                              team_id=order.team_id)
        sub_ids = {payment.subscription_id} | set((await ctx.uow.session.scalars(
            sa.select(Subscription.id).where(Subscription.order_id == order.id))).all())
        for sub_id in sorted(i for i in sub_ids if i is not None):
            await revoke_entitlements_from_source(ctx, source="subscription", source_id=str(sub_id), reason=reason,
                                                  team_id=order.team_id)
    return None


def _order_first(handler: Any) -> Any:
    """Lock the event's order before the handler runs: the order, then its subscription, then
    payments and entitlements, in that order everywhere, so two instances applying two events of
    one purchase at once (checkout.session.completed and invoice.paid, as Stripe sends them in the
    same second) wait for each other instead of deadlocking. Charge events keep the refunds'
    order (payment, then order) and are not wrapped."""

    @functools.wraps(handler)
    async def locked(ctx: Ctx, event: ProviderEvent, **kw: Any) -> Ignored | None:
        if event.order is not None:
            event.order = await lock_order(ctx, event.order)
        return await handler(ctx, event, **kw)  # type: ignore[no-any-return]

    return locked


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _order_first(handle_checkout_session_completed),
    "checkout.session.async_payment_succeeded": _order_first(handle_checkout_session_async_payment_succeeded),
    "checkout.session.async_payment_failed": _order_first(handle_checkout_session_async_payment_failed),
    "checkout.session.expired": _order_first(handle_checkout_session_expired),
    "invoice.paid": _order_first(handle_invoice_paid),
    "invoice.payment_failed": _order_first(handle_invoice_payment_failed),
    "customer.subscription.created": _order_first(handle_customer_subscription_created),
    "customer.subscription.updated": _order_first(handle_customer_subscription_updated),
    "customer.subscription.deleted": _order_first(handle_customer_subscription_deleted),
    "customer.subscription.trial_will_end": _order_first(handle_customer_subscription_trial_will_end),
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.created": handle_charge_dispute_created,
    "charge.dispute.closed": handle_charge_dispute_closed,
}

_GRACE_AWARE = {"checkout.session.completed", "checkout.session.async_payment_succeeded", "invoice.paid",
                "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"}


def handlers(grace: timedelta = DEFAULT_GRACE) -> dict[str, Handler]:
    """The table with past-due subscriptions keeping access for ``grace``."""
    return {t: functools.partial(h, grace=grace) if t in _GRACE_AWARE else h  # type: ignore[misc]
            for t, h in HANDLERS.items()}
