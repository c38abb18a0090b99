"""Subscription lifecycle in the tests: a paid subscription's rows straight into a database, Stripe
subscription/invoice/charge objects shaped as the stand-in (and Stripe) sends them, events stored as
the webhook route stores them, and a provider-event worker with the real handlers whose published
messages (events, access invalidations) the test reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.access.cache import FactsCache
from domain.access.entitlements import grant_entitlement, is_active
from domain.access.invalidation import INVALIDATE_CHANNEL
from domain.clock import Clock, FrozenClock
from domain.commerce.provider_event_handlers import handlers
from domain.commerce.provider_event_worker import ProviderEventWorker
from domain.commerce.provider_events import record_provider_event
from domain.context import Ctx
from persistence.db import UnitOfWork
from persistence.ids import new_id
from persistence.models import (
    Contact,
    Entitlement,
    Hub,
    Order,
    Payment,
    PaymentWebhookEvent,
    Price,
    Product,
    ProductDeliverable,
    Subscription,
    Team,
    TeamContact,
)
from server.integrations.stripe import verify_webhook
from server.ratelimit import MemoryRateLimiter
from tests.support.payments import WEBHOOK_SECRET, sign, stripe_event


def ts(at: datetime) -> int:
    return int(at.timestamp())


def second(at: datetime | None = None) -> datetime:
    """``at`` (default now) to the whole second, as Stripe's times are."""
    return (at or datetime.now(UTC)).replace(microsecond=0)


@dataclass
class Published:
    """What the units of work published after commit, in order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, channel: str, payload: bytes) -> None:
        self.messages.append((channel, payload))

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(p) for c, p in self.messages if not c.startswith(("internal:", "access:"))]
        return [e for e in out if name is None or e["event"] == name]

    def invalidations(self) -> list[dict[str, Any]]:
        return [json.loads(p) for c, p in self.messages if c == INVALIDATE_CHANNEL]

    def clear(self) -> None:
        self.messages.clear()


@dataclass(frozen=True)
class Actor:
    """Who acts, as ``orders.BillingActor`` says it."""

    actor_type: str = "staff"
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None


@dataclass
class Bought:
    """A contact's paid order for a recurring price, in a team and hub of its own (or shared)."""

    team: Team
    hub: Hub
    contact: Contact
    product: Product
    price: Price
    order: Order
    provider_sub_id: str

    def metadata(self) -> dict[str, str]:
        return {"hubwire_order_id": str(self.order.id), "hubwire_team_id": str(self.team.id),
                "hubwire_hub_id": str(self.hub.id)}


async def bought(sessions: Any, *, provider: str = "stripe", like: Bought | None = None,
                 order_status: str = "paid") -> Bought:
    """A paid (or ``order_status``) order of a monthly price; ``like`` reuses its team, hub,
    contact and product (a second subscription to the same product)."""
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        if like is None:
            team = Team(id=new_id(), name="Lifecycle team", slug=f"life-{uuid.uuid4().hex[:12]}", is_personal=False,
                        payment_provider=provider, created_at=now, updated_at=now)
            hub = Hub(id=new_id(), team_id=team.id, name="Members", slug="members", is_private=True, branding={},
                      navigation={}, settings={}, meta={}, allowed_redirect_origins=[], created_at=now, updated_at=now)
            contact = Contact(id=new_id(), email=f"member-{uuid.uuid4().hex[:10]}@example.test", created_at=now,
                              updated_at=now)
            product = Product(id=new_id(), team_id=team.id, name="Membership", active=True, meta={}, created_at=now,
                              updated_at=now)
            for row in (team, hub, contact, product):
                s.add(row)
                await s.flush()
            s.add(TeamContact(id=new_id(), team_id=team.id, contact_id=contact.id, lifecycle_stage="customer",
                              created_at=now, updated_at=now))
            s.add(ProductDeliverable(id=new_id(), team_id=team.id, product_id=product.id, type="hub_access",
                                     target_id=hub.id, created_at=now))
        else:
            team, hub, contact, product = like.team, like.hub, like.contact, like.product
        price = Price(id=new_id(), team_id=team.id, product_id=product.id, amount=2500, currency="usd",
                      type="recurring", interval="month", interval_count=1, active=True, created_at=now, updated_at=now)
        s.add(price)
        await s.flush()
        order = Order(id=new_id(), team_id=team.id, hub_id=hub.id, contact_id=contact.id, product_id=product.id,
                      price_id=price.id, provider=provider, status=order_status,
                      payment_status="paid" if order_status == "paid" else "unpaid", currency="usd",
                      amount_subtotal=2500, amount_discount=0, amount_total=2500, amount_refunded=0,
                      paid_at=now if order_status == "paid" else None, created_at=now, updated_at=now)
        s.add(order)
        await s.flush()
    return Bought(team, hub, contact, product, price, order, f"sub_{uuid.uuid4().hex[:14]}")


async def subscribed(sessions: Any, clock: Clock, b: Bought, *, status: str = "active",
                     start: datetime | None = None, end: datetime | None = None) -> Subscription:
    """What paying the order leaves (``orders.mark_order_paid`` with its subscription): the
    subscription row and a ``hub_access`` entitlement with source ``subscription``."""
    start = start or second(clock.now()) - timedelta(days=1)
    end = end or start + timedelta(days=30)
    now = clock.now()
    async with UnitOfWork(sessions) as uow:
        sub = Subscription(id=new_id(), team_id=b.team.id, hub_id=b.hub.id, contact_id=b.contact.id,
                           order_id=b.order.id, product_id=b.product.id, price_id=b.price.id, provider=b.order.provider,
                           provider_subscription_id=b.provider_sub_id if b.order.provider == "stripe" else None,
                           status=status, current_period_start=start, current_period_end=end,
                           cancel_at_period_end=False, created_at=now, updated_at=now)
        uow.session.add(sub)
        await uow.session.flush()
        hub = await uow.session.get(Hub, b.hub.id)
        assert hub is not None
        await grant_entitlement(ctx_of(uow, clock), hub, contact_id=b.contact.id, kind="hub_access",
                                source="subscription", source_id=str(sub.id))
        await uow.commit()
    return sub


def contexts(sessions: Any, clock: Clock, published: Published | None = None) -> Any:
    """``Services.context`` for a job: a unit of work (committed at the end) and its ``Ctx``."""

    @asynccontextmanager
    async def context() -> AsyncIterator[Ctx]:
        async with UnitOfWork(sessions, publisher=published) as uow:
            yield ctx_of(uow, clock)

    return context


def ctx_of(uow: UnitOfWork, clock: Clock) -> Ctx:
    return Ctx(uow, clock, FactsCache(), MemoryRateLimiter())


def stripe_subscription(b: Bought, *, status: str = "active", start: datetime, end: datetime,
                        cancel_at_period_end: bool = False, canceled_at: datetime | None = None,
                        ended_at: datetime | None = None, created: datetime | None = None) -> dict[str, Any]:
    """A subscription object as Stripe sends it (the period on its one item)."""
    return {
        "id": b.provider_sub_id, "object": "subscription", "created": ts(created or start), "customer": "cus_test",
        "status": status, "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": ts(end) if cancel_at_period_end else None,
        "canceled_at": ts(canceled_at) if canceled_at else None, "ended_at": ts(ended_at) if ended_at else None,
        "trial_end": None, "metadata": b.metadata(), "currency": "usd", "livemode": False,
        "items": {"object": "list", "has_more": False, "data": [{
            "id": "si_test", "object": "subscription_item", "quantity": 1,
            "price": {"id": "price_test", "object": "price", "unit_amount": 2500, "currency": "usd"},
            "current_period_start": ts(start), "current_period_end": ts(end)}]},
    }


def stripe_session(b: Bought, *, mode: str = "payment", payment_status: str = "paid", amount: int = 2500,
                   intent: str | None = None, subscription: str | None = None,
                   invoice: str | None = None) -> dict[str, Any]:
    """A completed Checkout Session for the order, as Stripe sends it."""
    return {
        "id": f"cs_{b.order.id.hex[:20]}", "object": "checkout.session", "mode": mode, "status": "complete",
        "payment_status": payment_status, "client_reference_id": str(b.order.id), "metadata": b.metadata(),
        "customer": "cus_test", "currency": "usd", "amount_subtotal": amount, "amount_total": amount,
        "payment_intent": intent, "subscription": subscription, "invoice": invoice,
    }


def stripe_charge(b: Bought, *, intent: str, charge: str, refunds: list[tuple[str, int]],
                  amount: int = 2500) -> dict[str, Any]:
    """A charge with its refunds listed (newest first, as Stripe lists them)."""
    listed = [{"id": rid, "object": "refund", "amount": ramount, "status": "succeeded", "charge": charge,
               "created": 1_800_000_000 + i, "reason": None} for i, (rid, ramount) in enumerate(refunds)]
    refunded = sum(a for _, a in refunds)
    return {
        "id": charge, "object": "charge", "amount": amount, "amount_refunded": refunded, "currency": "usd",
        "payment_intent": intent, "refunded": refunded == amount, "metadata": b.metadata(), "status": "succeeded",
        "refunds": {"object": "list", "data": list(reversed(listed)), "has_more": False},
    }


def stripe_invoice(b: Bought, *, start: datetime, end: datetime, intent: str | None, amount: int = 2500,
                   reason: str = "subscription_cycle", paid: bool = True) -> dict[str, Any]:
    return {
        "id": f"in_{uuid.uuid4().hex[:14]}", "object": "invoice", "customer": "cus_test", "billing_reason": reason,
        "currency": "usd", "amount_due": amount, "amount_paid": amount if paid else 0,
        "status": "paid" if paid else "open", "period_start": ts(start), "period_end": ts(end),
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": b.provider_sub_id, "metadata": b.metadata()}},
        "lines": {"object": "list", "data": [{"id": "il_test", "object": "line_item", "amount": amount,
                                              "period": {"start": ts(start), "end": ts(end)}}]},
        "payments": {"object": "list", "data": [] if intent is None else [{
            "id": "inpay_test", "object": "invoice_payment", "status": "paid" if paid else "open",
            "payment": {"type": "payment_intent", "payment_intent": intent}}]},
    }


async def store(sessions: Any, clock: Clock, type_: str, obj: dict[str, Any], *, created: datetime,
                previous: dict[str, Any] | None = None, event_id: str | None = None) -> str:
    """Store an event as the webhook route does (verified, then recorded); its event id. A second
    store of the same ``event_id`` is a duplicate delivery and stores nothing."""
    body = stripe_event(type_, obj, created=ts(created), previous=previous, event_id=event_id)
    async with UnitOfWork(sessions) as uow:
        received = verify_webhook(body, sign(body), WEBHOOK_SECRET)
        await record_provider_event(ctx_of(uow, clock), received)
        await uow.commit()
    return str(json.loads(body)["id"])


def worker(sessions: Any, clock: Clock, published: Published | None = None, *,
           grace: timedelta = timedelta(days=3), **kw: Any) -> ProviderEventWorker:
    return ProviderEventWorker(lambda: UnitOfWork(sessions, publisher=published), clock, FactsCache(),
                               MemoryRateLimiter(), handlers(grace), **kw)


async def drain(w: ProviderEventWorker) -> dict[str, int]:
    """Passes until nothing is due at the worker's clock; the totals."""
    totals = {"processed": 0, "ignored": 0, "retried": 0, "failed": 0}
    while True:
        report = await w.run_once()
        if not report.claimed:
            return totals
        for k in totals:
            totals[k] += getattr(report, k)


async def event_row(sessions: Any, event_id: str) -> PaymentWebhookEvent:
    async with sessions() as s:
        found = await s.scalar(sa.select(PaymentWebhookEvent).where(PaymentWebhookEvent.event_id == event_id))
        assert found is not None
        return found


async def subscription_of(sessions: Any, b: Bought) -> Subscription:
    async with sessions() as s:
        found = await s.scalar(sa.select(Subscription).where(Subscription.order_id == b.order.id)
                               .order_by(Subscription.created_at.desc()).limit(1))
        assert found is not None
        return found


async def entitlements_of(sessions: Any, sub: Subscription) -> list[Entitlement]:
    async with sessions() as s:
        return list((await s.scalars(sa.select(Entitlement).where(
            Entitlement.source == "subscription", Entitlement.source_id == str(sub.id)))).all())


async def holds_access(sessions: Any, b: Bought, at: datetime) -> bool:
    """Whether the contact holds any hub access in the hub at ``at`` (whatever its source)."""
    async with sessions() as s:
        rows = (await s.scalars(sa.select(Entitlement).where(
            Entitlement.hub_id == b.hub.id, Entitlement.contact_id == b.contact.id))).all()
    return any(is_active(e, at) for e in rows)


async def payments_of(sessions: Any, b: Bought) -> list[Payment]:
    async with sessions() as s:
        return list((await s.scalars(sa.select(Payment).where(Payment.order_id == b.order.id)
                                     .order_by(Payment.created_at))).all())


def frozen_at(at: datetime) -> FrozenClock:
    return FrozenClock(at)
