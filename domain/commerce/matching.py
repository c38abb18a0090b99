"""Which of our orders a provider event is about.

Checkout puts ``{hubwire_order_id, hubwire_team_id, hubwire_hub_id}`` (providers.CheckoutRequest.
metadata) on the Checkout Session, on its payment intent (Stripe copies that onto the charge) and
on the subscription (``subscription_data.metadata``; the subscription's invoices repeat it under
``parent.subscription_details.metadata``). So most events name their order directly. The rest are
found by the provider's ids that we stored once the order was paid: a subscription's id, a
payment's charge or payment intent, the session's id.

:func:`order_for_event` tries these in that order and answers the order only if it belongs to the
same provider as the event. It answers None when no order of ours is named, which is also the
answer when the object is named but not stored yet. A handler that needs the order then raises
``NotYetKnown`` and the worker tries again later.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.ids import parse_id
from persistence.models import Order, Payment, Subscription

ORDER_ID_KEY = "hubwire_order_id"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id_of(value: Any) -> str | None:
    """A provider id, whether the field holds the id or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def subscription_details(obj: dict[str, Any]) -> dict[str, Any]:
    """An invoice's subscription details: ``parent.subscription_details`` (current API versions),
    else the older top-level ``subscription_details``."""
    return _dict(_dict(obj.get("parent")).get("subscription_details")) or _dict(obj.get("subscription_details"))


def order_id_in(obj: dict[str, Any]) -> uuid.UUID | None:
    """The order id the object carries: its metadata's ``hubwire_order_id``, an invoice's
    subscription metadata's, or a Checkout Session's ``client_reference_id``."""
    for meta in (_dict(obj.get("metadata")), _dict(subscription_details(obj).get("metadata"))):
        found = parse_id(str(meta.get(ORDER_ID_KEY) or ""))
        if found is not None:
            return found
    if obj.get("object") == "checkout.session":
        return parse_id(str(obj.get("client_reference_id") or ""))
    return None


def provider_subscription_id(obj: dict[str, Any]) -> str | None:
    """The provider subscription the object is or belongs to (a subscription, an invoice, a session)."""
    if obj.get("object") == "subscription":
        return _id_of(obj.get("id"))
    return _id_of(subscription_details(obj).get("subscription")) or _id_of(obj.get("subscription"))


def provider_charge_id(obj: dict[str, Any]) -> str | None:
    """The charge the object is or is about (a charge, a dispute, a refund)."""
    if obj.get("object") == "charge":
        return _id_of(obj.get("id"))
    return _id_of(obj.get("charge"))


def provider_payment_intent_id(obj: dict[str, Any]) -> str | None:
    """The payment intent the object is or belongs to (a payment intent, a charge, a session, a dispute)."""
    if obj.get("object") == "payment_intent":
        return _id_of(obj.get("id"))
    return _id_of(obj.get("payment_intent"))


async def order_for_event(session: AsyncSession, provider: str, obj: dict[str, Any]) -> Order | None:
    """The order of ours that ``obj`` (an event's ``data.object``) is about, or None."""
    order_id = order_id_in(obj)
    if order_id is not None:
        order = await session.scalar(sa.select(Order).where(Order.id == order_id, Order.provider == provider))
        if order is not None:
            return order
    sub_id = provider_subscription_id(obj)
    if sub_id is not None:
        found = await session.scalar(sa.select(Subscription.order_id).where(
            Subscription.provider == provider, Subscription.provider_subscription_id == sub_id))
        if found is not None:
            return await session.get(Order, found)
    charge_id = provider_charge_id(obj)
    if charge_id is not None:
        found = await session.scalar(sa.select(Payment.order_id).where(
            Payment.provider == provider, Payment.provider_charge_id == charge_id).limit(1))
        if found is not None:
            return await session.get(Order, found)
    intent_id = provider_payment_intent_id(obj)
    if intent_id is not None:
        order = await session.scalar(sa.select(Order).where(
            Order.provider == provider, Order.provider_payment_intent_id == intent_id).limit(1))
        if order is not None:
            return order
        found = await session.scalar(sa.select(Payment.order_id).where(
            Payment.provider == provider, Payment.provider_payment_id == intent_id).limit(1))
        if found is not None:
            return await session.get(Order, found)
    if obj.get("object") == "checkout.session" and _id_of(obj.get("id")):
        return await session.scalar(sa.select(Order).where(
            Order.provider == provider, Order.provider_session_id == obj["id"]).limit(1))
    return None
