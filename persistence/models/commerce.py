"""Commerce: what was bought and paid. Orders (one per checkout), payments, subscriptions, refunds,
coupon redemptions, every payment-provider event as received, and the audit trail of money-changing
actions. Statuses keep Stripe's vocabulary (subscriptions: ``trialing``, ``active``, ``past_due``,
``canceled``, ...; payments like charges: ``succeeded``, ``pending``, ``failed``; refunds:
``pending``, ``succeeded``, ``failed``, ``canceled``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column
from persistence.types import JSONType


class Order(Base):
    """One checkout of one price by one contact in one hub. ``status``: ``pending`` (awaiting
    payment: a Stripe Checkout Session, or a manual order until staff marks it paid), ``paid``,
    ``failed``, ``canceled``, ``expired``, ``refunded`` (fully). ``payment_status`` is Stripe's
    Checkout Session one: ``unpaid``, ``paid``, ``no_payment_required``. Amounts in minor units."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_hub_id", "hub_id", "id"),
        sa.Index("ix_orders_provider_session", "provider", "provider_session_id"),
    )
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"))
    price_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("prices.id", ondelete="CASCADE"), index=True)
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id", ondelete="SET NULL"))
    coupon_code: Mapped[str | None] = mapped_column(sa.String(64))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid(), index=True)  # a renewal's subscription
    provider: Mapped[str] = mapped_column(sa.String(20))  # free | manual | stripe
    status: Mapped[str] = mapped_column(sa.String(20))
    payment_status: Mapped[str] = mapped_column(sa.String(30))
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_subtotal: Mapped[int] = mapped_column(sa.BigInteger())
    amount_discount: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    amount_total: Mapped[int] = mapped_column(sa.BigInteger())
    amount_refunded: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    provider_session_id: Mapped[str | None] = mapped_column(sa.String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    provider_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255))
    session_url: Mapped[str | None] = mapped_column(sa.Text())
    success_url: Mapped[str | None] = mapped_column(sa.String(2000))
    cancel_url: Mapped[str | None] = mapped_column(sa.String(2000))
    paid_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payment(Base):
    """Money received for an order (its checkout, or a subscription's renewal invoice), like a
    Stripe charge: ``status`` ``succeeded`` / ``pending`` / ``failed``, ``amount_refunded`` so far,
    ``dispute_status`` while or after a dispute (Stripe's: ``needs_response``, ``won``, ``lost``...)."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.Index("ix_payments_hub_id", "hub_id", "id"),
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_payment"),
    )
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_payment_id: Mapped[str | None] = mapped_column(sa.String(255))  # payment intent or invoice id
    provider_charge_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_refunded: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
    status: Mapped[str] = mapped_column(sa.String(30))
    dispute_status: Mapped[str | None] = mapped_column(sa.String(40))
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Subscription(Base):
    """A recurring price bought by a contact, with Stripe's status and period. ``state_at`` is when
    the provider's newest applied state was current (the event's own time), so an older state never
    overwrites a newer one whatever order events arrive in."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.Index("ix_subscriptions_hub_id", "hub_id", "id"),
        sa.UniqueConstraint("provider", "provider_subscription_id", name="uq_subscriptions_provider_subscription"),
    )
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"))
    price_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("prices.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_subscription_id: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(30))
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    state_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Refund(Base):
    """Money given back on a payment, by staff or seen at the provider; Stripe's refund statuses."""

    __tablename__ = "refunds"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_refund_id", name="uq_refunds_provider_refund"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_refund_id: Mapped[str | None] = mapped_column(sa.String(255))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(30))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CouponRedemption(Base):
    """One use of a coupon, by one order: counted when the checkout starts, released (deleted)
    when that order is canceled or expires unpaid."""

    __tablename__ = "coupon_redemptions"
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id", ondelete="SET NULL"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class PaymentWebhookEvent(Base):
    """A payment provider's event exactly as received (``payload`` is the raw body), stored once
    per (provider, event id) and applied by the background worker: ``status`` ``pending`` →
    ``processed`` (or ``ignored``, or ``failed`` after its last attempt). ``team_id`` / ``hub_id``
    are filled in once the event's object is matched to an order."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_webhook_events_event"),
        sa.Index("ix_payment_webhook_events_due", "status", "next_attempt_at"),
        sa.Index("ix_payment_webhook_events_hub_id", "hub_id", "id"),
    )
    id: Mapped[uuid.UUID] = id_column()
    provider: Mapped[str] = mapped_column(sa.String(20))
    event_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(100))
    object_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    event_created: Mapped[datetime | None]
    payload: Mapped[str] = mapped_column(sa.Text())
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text())
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class BillingAuditEntry(Base):
    """Who changed money or access through billing, and why: staff marking an order paid,
    refunding, canceling a subscription; a member canceling or resuming their own; the provider."""

    __tablename__ = "billing_audit_log"
    __table_args__ = (sa.Index("ix_billing_audit_log_team_id", "team_id", "id"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    hub_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(sa.String(20))  # staff | api_key | member | provider | system
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    actor_contact_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    action: Mapped[str] = mapped_column(sa.String(50))
    target_type: Mapped[str] = mapped_column(sa.String(30))
    target_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    amount: Mapped[int | None] = mapped_column(sa.BigInteger())
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]
