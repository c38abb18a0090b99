"""Commerce documents: checkouts (``checkouts``), orders (``orders``), payments (``payments``) and
refunds (``refunds``). Amounts in minor units, currencies lowercase, statuses in Stripe's words."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from persistence.models import Order, Payment, Refund
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource

# ---- checkouts ------------------------------------------------------------------------------------------


class CheckoutCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    price_id: str
    coupon_code: str | None = None
    email: str | None = None  # a guest's (no member token); ignored for a member, who buys as themself
    success_url: str | None = None
    cancel_url: str | None = None


class CheckoutAttributes(msgspec.Struct, kw_only=True):
    order_id: str
    status: str
    payment_status: str
    provider: str
    currency: str
    amount_subtotal: int
    amount_discount: int
    amount_total: int
    session_url: str | None  # Stripe: where to send the payer


class CheckoutsResource(Resource):
    type: Literal["checkouts"]
    attributes: CheckoutAttributes


class CheckoutsDocument(Document):
    data: CheckoutsResource


class CheckoutsCreateData(CreateData):
    type: Literal["checkouts"]
    attributes: CheckoutCreate


class CheckoutsCreateDocument(Inbound):
    data: CheckoutsCreateData


def checkout_resource(order: Order) -> CheckoutsResource:
    return CheckoutsResource.of(order.id, CheckoutAttributes(
        order_id=str(order.id), status=order.status, payment_status=order.payment_status, provider=order.provider,
        currency=order.currency, amount_subtotal=order.amount_subtotal, amount_discount=order.amount_discount,
        amount_total=order.amount_total, session_url=order.session_url),
        self_link=f"/api/v1/hub/{order.hub_id}/me/orders/{order.id}")


# ---- orders -------------------------------------------------------------------------------------------


class OrderAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    product_id: str
    price_id: str
    coupon_code: str | None
    subscription_id: str | None
    provider: str
    status: str
    payment_status: str
    currency: str
    amount_subtotal: int
    amount_discount: int
    amount_total: int
    amount_refunded: int
    provider_session_id: str | None
    session_url: str | None
    paid_at: datetime | None
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OrdersResource(Resource):
    type: Literal["orders"]
    attributes: OrderAttributes


class OrdersDocument(Document):
    data: OrdersResource


class OrdersListDocument(ListDocument):
    data: list[OrdersResource]


def _s(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def order_resource(order: Order, *, team_id: Any | None = None) -> OrdersResource:
    """``team_id`` given: the staff link; otherwise the member's own."""
    link = (f"/api/v1/teams/{team_id}/hubs/{order.hub_id}/orders/{order.id}" if team_id is not None
            else f"/api/v1/hub/{order.hub_id}/me/orders/{order.id}")
    return OrdersResource.of(order.id, OrderAttributes(
        hub_id=str(order.hub_id), contact_id=str(order.contact_id), product_id=str(order.product_id),
        price_id=str(order.price_id), coupon_code=order.coupon_code, subscription_id=_s(order.subscription_id),
        provider=order.provider, status=order.status, payment_status=order.payment_status, currency=order.currency,
        amount_subtotal=order.amount_subtotal, amount_discount=order.amount_discount, amount_total=order.amount_total,
        amount_refunded=order.amount_refunded, provider_session_id=order.provider_session_id,
        session_url=order.session_url if order.status == "pending" else None, paid_at=order.paid_at,
        canceled_at=order.canceled_at, created_at=order.created_at, updated_at=order.updated_at), self_link=link)


# ---- payments ----------------------------------------------------------------------------------------


class PaymentAttributes(msgspec.Struct, kw_only=True):
    order_id: str
    subscription_id: str | None
    contact_id: str
    provider: str
    provider_payment_id: str | None
    provider_charge_id: str | None
    amount: int
    currency: str
    amount_refunded: int
    status: str
    dispute_status: str | None
    paid_at: datetime | None
    created_at: datetime


class PaymentsResource(Resource):
    type: Literal["payments"]
    attributes: PaymentAttributes


class PaymentsDocument(Document):
    data: PaymentsResource


class PaymentsListDocument(ListDocument):
    data: list[PaymentsResource]


def payment_resource(team_id: Any, p: Payment) -> PaymentsResource:
    return PaymentsResource.of(p.id, PaymentAttributes(
        order_id=str(p.order_id), subscription_id=_s(p.subscription_id), contact_id=str(p.contact_id),
        provider=p.provider, provider_payment_id=p.provider_payment_id, provider_charge_id=p.provider_charge_id,
        amount=p.amount, currency=p.currency, amount_refunded=p.amount_refunded, status=p.status,
        dispute_status=p.dispute_status, paid_at=p.paid_at, created_at=p.created_at),
        self_link=f"/api/v1/teams/{team_id}/hubs/{p.hub_id}/payments/{p.id}")


# ---- refunds ------------------------------------------------------------------------------------------


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str
    amount: int | None = None  # none: everything not refunded yet


class RefundAttributes(msgspec.Struct, kw_only=True):
    payment_id: str
    order_id: str
    provider: str
    provider_refund_id: str | None
    amount: int
    currency: str
    reason: str | None
    status: str
    created_by_user_id: str | None
    created_at: datetime


class RefundsResource(Resource):
    type: Literal["refunds"]
    attributes: RefundAttributes


class RefundsDocument(Document):
    data: RefundsResource


class RefundsCreateData(CreateData):
    type: Literal["refunds"]
    attributes: RefundCreate


class RefundsCreateDocument(Inbound):
    data: RefundsCreateData


def refund_resource(team_id: Any, r: Refund) -> RefundsResource:
    return RefundsResource.of(r.id, RefundAttributes(
        payment_id=str(r.payment_id), order_id=str(r.order_id), provider=r.provider,
        provider_refund_id=r.provider_refund_id, amount=r.amount, currency=r.currency, reason=r.reason,
        status=r.status, created_by_user_id=_s(r.created_by_user_id), created_at=r.created_at),
        self_link=f"/api/v1/teams/{team_id}/hubs/{r.hub_id}/payments/{r.payment_id}")
