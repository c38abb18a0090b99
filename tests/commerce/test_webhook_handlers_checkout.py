"""The checkout, invoice and refund handlers on the real orders/refunds code: a paid session pays
the order once and grants its deliverables; an unpaid one waits for async_payment_succeeded or
_failed; an expired one expires the order; in subscription mode the grants have the subscription
as source, whichever of invoice.paid / checkout.session.completed / customer.subscription.updated
comes first; charge.refunded partial keeps access and full revokes it, each refund once. Frozen
clock, worker run by hand."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from persistence.models import BillingAuditEntry, Entitlement, Order, Refund
from tests.support.lifecycle import (
    Published,
    bought,
    drain,
    event_row,
    frozen_at,
    holds_access,
    payments_of,
    second,
    store,
    stripe_charge,
    stripe_invoice,
    stripe_session,
    stripe_subscription,
    subscription_of,
    worker,
)


async def order_of(sessions, b) -> Order:
    async with sessions() as s:
        found = await s.get(Order, b.order.id)
        assert found is not None
        return found


async def grants(sessions, b) -> list[tuple[str, str | None]]:
    async with sessions() as s:
        rows = (await s.scalars(sa.select(Entitlement).where(Entitlement.contact_id == b.contact.id,
                                                             Entitlement.hub_id == b.hub.id)
                                .order_by(Entitlement.created_at))).all()
    return [(e.source, e.source_id) for e in rows]


async def audit_actions(sessions, target) -> list[str]:
    async with sessions() as s:
        return list((await s.scalars(sa.select(BillingAuditEntry.action).where(BillingAuditEntry.target_id == target)
                                     .order_by(BillingAuditEntry.created_at, BillingAuditEntry.id))).all())


async def test_a_paid_session_pays_the_order_once_and_grants(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    session = stripe_session(b, intent="pi_paid_" + b.provider_sub_id)
    published = Published()
    first = await store(sessions, clock, "checkout.session.completed", session, created=clock.now())
    # Stripe delivering it again under the same id, and a replayed copy later: one payment, one grant.
    await store(sessions, clock, "checkout.session.completed", session, created=clock.now(), event_id=first)
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    order = await order_of(sessions, b)
    assert (order.status, order.payment_status, order.provider_session_id, order.provider_payment_intent_id) == (
        "paid", "paid", session["id"], session["payment_intent"])
    [payment] = await payments_of(sessions, b)
    assert (payment.amount, payment.provider_payment_id, payment.status) == (2500, session["payment_intent"],
                                                                             "succeeded")
    assert await grants(sessions, b) == [("order", str(b.order.id))]
    assert [e["event"] for e in published.events()] == ["order.paid"]
    async with sessions() as s, s.begin():
        row = await event_row(sessions, first)
        await s.execute(sa.update(type(row)).where(type(row).id == row.id).values(
            status="pending", attempts=0, next_attempt_at=clock.now()))
    published.clear()
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    assert published.events() == [] and len(await payments_of(sessions, b)) == 1
    assert await grants(sessions, b) == [("order", str(b.order.id))]
    assert (await audit_actions(sessions, b.order.id)).count("order.paid") == 1


async def test_an_unpaid_session_waits_for_the_async_payment(sessions):
    clock = frozen_at(second())
    ok, bad = await bought(sessions, order_status="pending"), await bought(sessions, order_status="pending")
    for b in (ok, bad):
        await store(sessions, clock, "checkout.session.completed",
                    stripe_session(b, payment_status="unpaid", intent=f"pi_{b.provider_sub_id}"), created=clock.now())
    assert (await drain(worker(sessions, clock)))["processed"] == 2
    for b in (ok, bad):
        order = await order_of(sessions, b)
        assert (order.status, order.payment_status) == ("pending", "unpaid")
        assert await grants(sessions, b) == []
    later = clock.now() + timedelta(seconds=5)
    await store(sessions, clock, "checkout.session.async_payment_succeeded",
                stripe_session(ok, intent=f"pi_{ok.provider_sub_id}"), created=later)
    await store(sessions, clock, "checkout.session.async_payment_failed",
                stripe_session(bad, payment_status="unpaid", intent=f"pi_{bad.provider_sub_id}"), created=later)
    assert (await drain(worker(sessions, clock)))["processed"] == 2
    assert (await order_of(sessions, ok)).status == "paid"
    assert await grants(sessions, ok) == [("order", str(ok.order.id))]
    assert (await order_of(sessions, bad)).status == "failed" and await grants(sessions, bad) == []
    # A failure reported again for the paid order changes nothing.
    await store(sessions, clock, "checkout.session.async_payment_failed",
                stripe_session(ok, payment_status="unpaid", intent=f"pi_{ok.provider_sub_id}"), created=later)
    assert (await drain(worker(sessions, clock)))["ignored"] == 1
    assert (await order_of(sessions, ok)).status == "paid"


async def test_an_expired_session_expires_the_pending_order(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    session = {**stripe_session(b, payment_status="unpaid"), "status": "expired"}
    await store(sessions, clock, "checkout.session.expired", session, created=clock.now())
    await store(sessions, clock, "checkout.session.expired", session, created=clock.now() + timedelta(seconds=1))
    totals = await drain(worker(sessions, clock))
    assert (totals["processed"], totals["ignored"]) == (1, 1)
    assert (await order_of(sessions, b)).status == "expired"
    assert await audit_actions(sessions, b.order.id) == ["order.expired"]


async def test_subscription_mode_whatever_comes_first_grants_once_with_the_subscription_as_source(sessions):
    """The stand-in's order: subscription.created, invoice.paid, then session.completed (same
    second). Here: updated (cancel at period end) first, then session.completed, then invoice.paid
    (its payment moves to the payment intent), then the stale created."""
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    t = second(clock.now())
    start, end = t, t + timedelta(days=30)
    published = Published()
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, start=start, end=end, cancel_at_period_end=True, canceled_at=t),
                created=t + timedelta(seconds=2), previous={"cancel_at_period_end": False})
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    assert await grants(sessions, b) == []  # nothing is paid yet
    invoice = stripe_invoice(b, start=start, end=end, intent="pi_first_" + b.provider_sub_id,
                             reason="subscription_create")
    await store(sessions, clock, "checkout.session.completed",
                stripe_session(b, mode="subscription", subscription=b.provider_sub_id, invoice=invoice["id"]),
                created=t + timedelta(seconds=3))
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    sub = await subscription_of(sessions, b)
    assert (await order_of(sessions, b)).status == "paid"
    assert await grants(sessions, b) == [("subscription", str(sub.id))]
    async with sessions() as s:
        [e] = (await s.scalars(sa.select(Entitlement).where(Entitlement.source_id == str(sub.id)))).all()
    assert e.ends_at == end  # the cancel at period end that came first holds
    [payment] = await payments_of(sessions, b)
    assert payment.provider_payment_id == invoice["id"] and payment.subscription_id == sub.id
    await store(sessions, clock, "invoice.paid", invoice, created=t + timedelta(seconds=1))
    await store(sessions, clock, "customer.subscription.created", stripe_subscription(b, start=start, end=end),
                created=t)
    totals = await drain(worker(sessions, clock, published))
    assert (totals["processed"], totals["ignored"]) == (1, 1)
    [payment] = await payments_of(sessions, b)
    assert (payment.provider_payment_id, payment.amount) == (invoice["payments"]["data"][0]["payment"]
                                                             ["payment_intent"], 2500)
    sub = await subscription_of(sessions, b)
    assert sub.cancel_at_period_end and sub.current_period_end == end
    assert [x["event"] for x in published.events()].count("order.paid") == 1


async def test_invoice_paid_before_the_session_pays_the_order_with_its_payment_intent(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    t = second(clock.now())
    invoice = stripe_invoice(b, start=t, end=t + timedelta(days=30), intent="pi_inv_" + b.provider_sub_id,
                             reason="subscription_create")
    await store(sessions, clock, "invoice.paid", invoice, created=t)
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    await store(sessions, clock, "checkout.session.completed",
                stripe_session(b, mode="subscription", subscription=b.provider_sub_id, invoice=invoice["id"]),
                created=t)
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    sub = await subscription_of(sessions, b)
    assert await grants(sessions, b) == [("subscription", str(sub.id))]
    assert [(p.provider_payment_id, p.amount) for p in await payments_of(sessions, b)] == [
        ("pi_inv_" + b.provider_sub_id, 2500)]


async def test_a_trial_records_no_price_as_paid(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    t = second(clock.now())
    await store(sessions, clock, "checkout.session.completed",
                stripe_session(b, mode="subscription", payment_status="no_payment_required", amount=0,
                               subscription=b.provider_sub_id, invoice="in_trial_" + b.provider_sub_id), created=t)
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    assert (await order_of(sessions, b)).status == "paid"
    assert sum(p.amount for p in await payments_of(sessions, b)) == 0
    assert await holds_access(sessions, b, t + timedelta(days=3))


async def test_partial_refund_keeps_access_full_refund_revokes_each_refund_once(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    intent, charge = "pi_ref_" + b.provider_sub_id, "ch_ref_" + b.provider_sub_id
    await store(sessions, clock, "checkout.session.completed", stripe_session(b, intent=intent), created=clock.now())
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    published = Published()
    partial = stripe_charge(b, intent=intent, charge=charge, refunds=[("re_1_" + charge, 1000)])
    await store(sessions, clock, "charge.refunded", partial, created=clock.now() + timedelta(seconds=1))
    await store(sessions, clock, "charge.refunded", partial, created=clock.now() + timedelta(seconds=1))  # again
    totals = await drain(worker(sessions, clock, published))
    assert (totals["processed"], totals["ignored"]) == (1, 1)
    order = await order_of(sessions, b)
    assert (order.status, order.amount_refunded) == ("paid", 1000)
    assert await holds_access(sessions, b, clock.now())
    [payment] = await payments_of(sessions, b)
    assert payment.provider_charge_id == charge and payment.amount_refunded == 1000

    full = stripe_charge(b, intent=intent, charge=charge, refunds=[("re_1_" + charge, 1000), ("re_2_" + charge, 1500)])
    await store(sessions, clock, "charge.refunded", full, created=clock.now() + timedelta(seconds=2))
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    order = await order_of(sessions, b)
    assert (order.status, order.amount_refunded) == ("refunded", 2500)
    assert not await holds_access(sessions, b, clock.now())
    async with sessions() as s:
        refunds = (await s.scalars(sa.select(Refund).where(Refund.order_id == b.order.id))).all()
    assert sorted((r.provider_refund_id, r.amount) for r in refunds) == [("re_1_" + charge, 1000),
                                                                        ("re_2_" + charge, 1500)]
    assert [e["event"] for e in published.events()].count("order.refunded") >= 1


async def test_two_workers_paying_one_order_at_once_pay_it_once(sessions):
    """checkout.session.completed and async_payment_succeeded of one order (two events, so both
    are claimed), applied by two workers at the same moment."""
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    session = stripe_session(b, intent="pi_race_" + b.provider_sub_id)
    await store(sessions, clock, "checkout.session.completed", session, created=clock.now())
    await store(sessions, clock, "checkout.session.async_payment_succeeded", session, created=clock.now())
    published = Published()
    workers = [worker(sessions, clock, published, batch_size=1) for _ in range(2)]
    for _ in range(10):
        reports = await asyncio.gather(*(w.run_once() for w in workers))
        if not any(r.claimed for r in reports):
            clock.advance(seconds=30)
            if not any(r.claimed for r in await asyncio.gather(*(w.run_once() for w in workers))):
                break
    assert (await order_of(sessions, b)).status == "paid"
    assert len(await payments_of(sessions, b)) == 1
    assert await grants(sessions, b) == [("order", str(b.order.id))]
    assert [e["event"] for e in published.events()].count("order.paid") == 1
