"""The dispatch table: which handler applies which provider event (Stripe's event types).

The worker (``provider_event_worker.py``) matches each event to its order first (``event.order``;
None when no order of ours is named yet) and calls ``HANDLERS[event.type](ctx, event)`` in the
event's transaction. A handler:

- applies the event and returns None (the event is ``processed``); it must be idempotent, because a
  replay runs it again: check the state you are about to write (an order already ``paid``, a
  payment already stored under its charge id) and change nothing the second time;
- returns ``Ignored(reason)`` when the event asks nothing of us;
- raises ``NotYetKnown`` when it needs an object we do not have yet (``event.order`` None, a
  subscription or payment not stored yet); the worker rolls back and tries again later;
- for subscription state, applies it only when the event is not older than
  ``subscriptions.state_at`` (the provider's ``created``), and never moves away from ``canceled``.

Types not in the table are ``ignored`` ("Hubwire does not act on this event").

The handlers below are STUBS. They mark the event ``ignored`` with a reason that says so. The
checkout and subscription work of issue 11 replaces each one with the real handler, keeping its
name and its row in the table.
"""

from __future__ import annotations

from domain.commerce.provider_events import Handler, Ignored, ProviderEvent
from domain.context import Ctx


def _stub(event: ProviderEvent) -> Ignored:
    return Ignored(f"{event.type}: not applied yet (its handler is a stub until checkout lands)")


async def handle_checkout_session_completed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: mark the order paid (payment_status ``paid``), or wait for async_payment_* when
    ``unpaid``; ``no_payment_required`` completes it too; store payment/subscription ids; run
    deliverables."""
    return _stub(event)


async def handle_checkout_session_async_payment_succeeded(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: mark the (unpaid, completed) order paid and run deliverables."""
    return _stub(event)


async def handle_checkout_session_async_payment_failed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: mark the order failed and release its coupon redemption."""
    return _stub(event)


async def handle_checkout_session_expired(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: mark the pending order expired and release its coupon redemption."""
    return _stub(event)


async def handle_invoice_paid(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: record the renewal payment, move the period, clear entitlement ``ends_at``."""
    return _stub(event)


async def handle_invoice_payment_failed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: record the failed payment (the subscription's ``past_due`` comes with its own event)."""
    return _stub(event)


async def handle_customer_subscription_created(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: store the subscription (status, periods), if not older than ``state_at``."""
    return _stub(event)


async def handle_customer_subscription_updated(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: apply status / period / cancel_at_period_end, if not older than ``state_at``;
    set entitlement ``ends_at`` (period end, or + grace when ``past_due``)."""
    return _stub(event)


async def handle_customer_subscription_deleted(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: mark the subscription canceled (terminal) and end its entitlements at ``ended_at``."""
    return _stub(event)


async def handle_customer_subscription_trial_will_end(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: tell the member their trial ends soon."""
    return _stub(event)


async def handle_charge_refunded(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: record refunds seen at the provider; a full refund revokes, a partial one does not."""
    return _stub(event)


async def handle_charge_dispute_created(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: record the dispute on the payment (``dispute_status``)."""
    return _stub(event)


async def handle_charge_dispute_closed(ctx: Ctx, event: ProviderEvent) -> Ignored | None:
    """Stub. Will: record the outcome; a lost dispute revokes like a full refund."""
    return _stub(event)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": handle_checkout_session_completed,
    "checkout.session.async_payment_succeeded": handle_checkout_session_async_payment_succeeded,
    "checkout.session.async_payment_failed": handle_checkout_session_async_payment_failed,
    "checkout.session.expired": handle_checkout_session_expired,
    "invoice.paid": handle_invoice_paid,
    "invoice.payment_failed": handle_invoice_payment_failed,
    "customer.subscription.created": handle_customer_subscription_created,
    "customer.subscription.updated": handle_customer_subscription_updated,
    "customer.subscription.deleted": handle_customer_subscription_deleted,
    "customer.subscription.trial_will_end": handle_customer_subscription_trial_will_end,
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.created": handle_charge_dispute_created,
    "charge.dispute.closed": handle_charge_dispute_closed,
}
