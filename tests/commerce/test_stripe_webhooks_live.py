"""The webhook path end to end, with nothing faked but Stripe: two `hubwire serve` instances on one
database, the stand-in delivering signed events over HTTP as Stripe would. A paid checkout's events
are stored and then applied by the instances' workers: the order is paid once, its events matched
to the order's hub. The same event delivered several times, at the same moment, to both instances
leaves one row and is applied once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.commerce.providers import CheckoutRequest
from persistence.db import create_engine, session_factory
from persistence.models import BillingAuditEntry, Order, Payment, PaymentWebhookEvent
from server.integrations.stripe import StripeProvider
from tests.support.payments import SECRET_KEY, WEBHOOK_SECRET, StripeStandin, order_rows
from tests.support.realtime import start_server, stop_server
from tests.support.servers import ServerProcess

HOOK = "/api/v1/webhooks/stripe"


@dataclass
class Instances:
    a: ServerProcess
    b: ServerProcess
    database_url: str


@pytest.fixture(scope="module")
async def live_database_url(databases: Any) -> str:
    return str(await databases.new("webhooks_live"))  # the instances migrate it as they start


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory, live_database_url: str, redis_prefix: str,
              standin: StripeStandin) -> Iterator[Instances]:
    tmp = tmp_path_factory.mktemp("stripe-live")
    env = {"HUBWIRE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "HUBWIRE_STRIPE_SECRET_KEY": SECRET_KEY,
           "HUBWIRE_STRIPE_API_BASE": standin.base}
    a = start_server(tmp, live_database_url, redis_prefix + "live:", "a", **env)
    b = start_server(tmp, live_database_url, redis_prefix + "live:", "b", **env)
    try:
        yield Instances(a, b, live_database_url)
    finally:
        standin.no_webhooks()
        stop_server(a)
        stop_server(b)


@pytest.fixture
async def db(instances: Instances) -> AsyncIterator[Any]:
    engine = create_engine(instances.database_url)
    yield engine
    await engine.dispose()


async def rows(db: Any, event_id: str) -> list[Any]:
    async with db.connect() as conn:
        return list((await conn.execute(sa.select(PaymentWebhookEvent.__table__).where(
            PaymentWebhookEvent.event_id == event_id))).all())


async def settled(db: Any, event_ids: list[str], timeout: float = 15.0) -> dict[str, Any]:
    """Each event's one row, once the instances' workers have applied every one of them."""
    deadline = time.monotonic() + timeout
    while True:
        found = {e: await rows(db, e) for e in event_ids}
        if all(len(r) == 1 and r[0].status != "pending" for r in found.values()):
            return {e: r[0] for e, r in found.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"not applied in {timeout}s: {found}")
        time.sleep(0.05)


async def pay(db: Any, standin: StripeStandin) -> tuple[Any, list[dict[str, Any]]]:
    """An order written to the instances' database, paid through a Checkout Session at the
    stand-in: the order, and the events the payment made (in the order they were made)."""
    new_rows, order = order_rows()
    async with session_factory(db)() as s, s.begin():
        for row in new_rows:
            s.add(row)
            await s.flush()  # one at a time: the models declare no relationships to order inserts by
    stripe = StripeProvider(SECRET_KEY, api_base=standin.base)
    try:
        session = await stripe.create_checkout_session(CheckoutRequest(
            order_id=order.id, team_id=order.team_id, hub_id=order.hub_id, product_id=order.product_id,
            price_id=order.price_id, mode="payment", product_name="Membership", currency="usd", unit_amount=5000,
            success_url="https://creator.example/ok", customer_email="live@example.test"))
    finally:
        await stripe.aclose()
    before = {e["id"] for e in standin.events()}
    standin.complete(session.id)
    return order, [e for e in standin.events() if e["id"] not in before]


async def test_a_paid_checkouts_events_are_stored_and_applied(instances, db, standin):
    standin.flush()
    standin.webhooks(instances.a.base + HOOK)
    order, events = await pay(db, standin)
    standin.flush()
    assert [e["type"] for e in events] == ["customer.created", "charge.succeeded", "payment_intent.succeeded",
                                           "checkout.session.completed"]
    delivered = [d for d in standin.deliveries() if d["event_id"] in {e["id"] for e in events}]
    assert [d["status"] for d in delivered] == [200] * 4
    applied = await settled(db, [e["id"] for e in events])
    completed = applied[events[-1]["id"]]
    assert completed.status == "processed" and completed.last_error is None
    assert (completed.team_id, completed.hub_id) == (order.team_id, order.hub_id)
    assert completed.attempts == 1
    async with session_factory(db)() as s:
        paid = await s.get(Order, order.id)
        payments = (await s.scalars(sa.select(Payment).where(Payment.order_id == order.id))).all()
    assert paid is not None and paid.status == "paid" and paid.provider_payment_intent_id
    assert [(p.amount, p.provider_payment_id) for p in payments] == [(5000, paid.provider_payment_intent_id)]
    assert applied[events[0]["id"]].last_error == "customer.created: Hubwire does not act on this event"


async def test_one_event_delivered_at_once_to_both_instances_is_stored_and_applied_once(instances, db, standin):
    standin.flush()
    standin.webhooks(instances.a.base + HOOK, hold=True)  # nothing reaches us until we say so
    order, events = await pay(db, standin)
    completed = events[-1]
    assert completed["type"] == "checkout.session.completed"
    copies = standin.deliver(completed["id"], urls=[instances.a.base + HOOK, instances.b.base + HOOK], times=3,
                             concurrent=True)
    assert [c["status"] for c in copies] == [200] * 6, copies
    row = (await settled(db, [completed["id"]]))[completed["id"]]
    assert row.status == "processed" and row.attempts == 1 and row.hub_id == order.hub_id
    async with session_factory(db)() as s:
        payments = (await s.scalars(sa.select(Payment).where(Payment.order_id == order.id))).all()
        audit = (await s.scalars(sa.select(BillingAuditEntry).where(BillingAuditEntry.target_id == order.id,
                                                                   BillingAuditEntry.action == "order.paid"))).all()
    assert len(payments) == 1 and len(audit) == 1  # six copies, two instances: paid once
    again = standin.deliver(completed["id"], urls=[instances.b.base + HOOK])  # Stripe trying once more, later
    assert [c["status"] for c in again] == [200]
    time.sleep(0.3)
    [still] = await rows(db, completed["id"])
    assert (still.status, still.attempts, still.processed_at) == ("processed", 1, row.processed_at)
    standin.release()  # the rest of the payment's events, in order
    await settled(db, [e["id"] for e in events])
    standin.no_webhooks()


def test_the_instances_logs_are_clean(instances):
    for server in (instances.a, instances.b):
        log = Path(server.log_path).read_text()
        assert "Traceback" not in log and "ERROR" not in log, log
