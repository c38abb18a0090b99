"""The real handlers under the worker's failure modes: a crash in the middle of handling then the
retry (no double grant, no double email, no double event, nothing lost), a worker that dies holding
its claim, two workers racing over one subscription's events (one of them creating the
subscription), out-of-order arrival of one failed renewal's events, and disputes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from domain.commerce.provider_event_handlers import handlers
from persistence.ids import new_id
from persistence.models import EmailOutbox, Payment, PaymentWebhookEvent, Subscription
from tests.support.lifecycle import (
    Published,
    bought,
    drain,
    entitlements_of,
    event_row,
    frozen_at,
    holds_access,
    second,
    store,
    stripe_subscription,
    subscribed,
    subscription_of,
    worker,
)


async def test_a_crash_mid_handling_then_the_retry_applies_once(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    start, end = t - timedelta(days=1), t + timedelta(days=29)
    await subscribed(sessions, clock, b, status="trialing", start=start, end=end)
    trial = stripe_subscription(b, status="trialing", start=start, end=end)
    trial["trial_end"] = int(end.timestamp())
    ids = [
        await store(sessions, clock, "customer.subscription.trial_will_end", trial, created=t),
        await store(sessions, clock, "customer.subscription.updated",
                    stripe_subscription(b, status="trialing", start=start, end=end, cancel_at_period_end=True,
                                        canceled_at=t), created=t + timedelta(seconds=1),
                    previous={"cancel_at_period_end": False}),
    ]
    table = handlers()
    crashed: list[str] = []

    def crashing(real):
        async def handle(ctx, event):
            outcome = await real(ctx, event)  # everything written ...
            if event.id not in crashed:
                crashed.append(event.id)
                raise ConnectionResetError("the connection dropped before commit")  # ... and lost
            return outcome
        return handle

    published = Published()
    w = worker(sessions, clock, published)
    w.handlers = {k: crashing(v) for k, v in table.items()}
    assert (await drain(w))["retried"] == 2
    assert published.events() == [] and published.invalidations() == []
    for event_id in ids:
        r = await event_row(sessions, event_id)
        assert r.status == "pending" and "ConnectionResetError" in (r.last_error or "")
    clock.advance(seconds=30)  # past the backoff
    assert (await drain(w))["processed"] == 2
    sub = await subscription_of(sessions, b)
    assert sub.cancel_at_period_end
    [e] = await entitlements_of(sessions, sub)  # granted once, its window set once
    assert e.ends_at == end
    assert len(published.events("subscription.updated")) == 1
    async with sessions() as s:
        mails = (await s.scalars(sa.select(EmailOutbox).where(EmailOutbox.to_email == b.contact.email))).all()
    assert [m.kind for m in mails] == ["trial_will_end"]
    assert "ends on" in mails[0].text_body
    # A replay of both changes nothing more.
    clock.advance(minutes=5)
    async with sessions() as s, s.begin():
        await s.execute(sa.update(PaymentWebhookEvent).where(PaymentWebhookEvent.event_id.in_(ids))
                        .values(status="pending", attempts=0, next_attempt_at=clock.now()))
    published.clear()
    await drain(w)
    assert published.events() == []
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(EmailOutbox)
                              .where(EmailOutbox.to_email == b.contact.email)) == 1


async def test_a_worker_that_dies_holding_its_claim_loses_nothing(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    start, end = t - timedelta(days=1), t + timedelta(days=29)
    await subscribed(sessions, clock, b, start=start, end=end)
    event_id = await store(sessions, clock, "customer.subscription.deleted",
                           stripe_subscription(b, status="canceled", start=start, end=end, canceled_at=t, ended_at=t),
                           created=t)
    dead = worker(sessions, clock)
    assert len(await dead.claim()) == 1  # ... and the process is killed here
    other = worker(sessions, clock)
    assert (await drain(other))["processed"] == 0  # claimed: not before the lease ends
    clock.advance(minutes=6)
    assert (await drain(other))["processed"] == 1
    assert (await subscription_of(sessions, b)).status == "canceled"
    assert (await event_row(sessions, event_id)).attempts == 2


async def test_two_workers_racing_over_one_subscriptions_events(sessions):
    """created, updated and deleted of a subscription we have never seen, taken by two workers at
    the same moment: it is stored once and ends canceled, whatever order they run in."""
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    t = second(clock.now())
    start, end = t, t + timedelta(days=30)
    await store(sessions, clock, "customer.subscription.created", stripe_subscription(b, start=start, end=end),
                created=t)
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, start=start, end=end, cancel_at_period_end=True, canceled_at=t),
                created=t + timedelta(seconds=1), previous={"cancel_at_period_end": False})
    await store(sessions, clock, "customer.subscription.deleted",
                stripe_subscription(b, status="canceled", start=start, end=end, cancel_at_period_end=True,
                                    canceled_at=t, ended_at=t + timedelta(seconds=2)), created=t + timedelta(seconds=2))
    published = Published()
    workers = [worker(sessions, clock, published, batch_size=1) for _ in range(3)]
    for _ in range(20):
        reports = await asyncio.gather(*(w.run_once() for w in workers))
        if not any(r.claimed for r in reports):
            clock.advance(seconds=30)  # a retry (a lost insert race) is due after its backoff
            if not any(r.claimed for r in await asyncio.gather(*(w.run_once() for w in workers))):
                break
    async with sessions() as s:
        subs = (await s.scalars(sa.select(Subscription).where(Subscription.order_id == b.order.id))).all()
    assert len(subs) == 1 and subs[0].status == "canceled" and subs[0].ended_at == t + timedelta(seconds=2)
    assert len(published.events("subscription.canceled")) == 1


async def test_a_lost_dispute_revokes_and_a_won_one_does_not(sessions):
    clock = frozen_at(second())
    won, lost = await bought(sessions), await bought(sessions)
    t = second(clock.now())
    for b in (won, lost):
        await subscribed(sessions, clock, b, start=t - timedelta(days=1), end=t + timedelta(days=29))
        async with sessions() as s, s.begin():
            sub = await subscription_of(sessions, b)
            s.add(Payment(id=new_id(), team_id=b.team.id, hub_id=b.hub.id, order_id=b.order.id,
                          subscription_id=sub.id, contact_id=b.contact.id, provider="stripe",
                          provider_payment_id=f"pi_{b.provider_sub_id}", provider_charge_id=None, amount=2500,
                          currency="usd", amount_refunded=0, status="succeeded", paid_at=t, created_at=t,
                          updated_at=t))
    for b, outcome in ((won, "won"), (lost, "lost")):
        dispute = {"id": f"dp_{b.provider_sub_id}", "object": "dispute", "charge": f"ch_{b.provider_sub_id}",
                   "payment_intent": f"pi_{b.provider_sub_id}", "amount": 2500, "currency": "usd",
                   "status": "needs_response", "reason": "fraudulent"}
        await store(sessions, clock, "charge.dispute.created", dispute, created=t)
        await store(sessions, clock, "charge.dispute.closed", {**dispute, "status": outcome},
                    created=t + timedelta(days=1), previous={"status": "needs_response"})
    assert (await drain(worker(sessions, clock)))["processed"] == 4
    async with sessions() as s:
        payments = {p.order_id: p for p in (await s.scalars(sa.select(Payment).where(
            Payment.order_id.in_([won.order.id, lost.order.id])))).all()}
    assert payments[won.order.id].dispute_status == "won"
    assert payments[lost.order.id].dispute_status == "lost"
    assert payments[lost.order.id].provider_charge_id == f"ch_{lost.provider_sub_id}"  # learned from the charge
    assert await holds_access(sessions, won, t + timedelta(days=2))
    assert not await holds_access(sessions, lost, clock.now())
    [e] = await entitlements_of(sessions, await subscription_of(sessions, lost))
    assert e.revoked_at is not None and "dispute" in (e.revoke_reason or "")


async def test_a_dispute_for_a_payment_not_stored_yet_waits(sessions):
    clock = frozen_at(second())
    event_id = await store(sessions, clock, "charge.dispute.created", {
        "id": "dp_unknown", "object": "dispute", "charge": "ch_unknown_x", "payment_intent": "pi_unknown_x",
        "amount": 100, "currency": "usd", "status": "needs_response"}, created=second())
    assert (await drain(worker(sessions, clock)))["retried"] == 1
    assert "not yet known" in ((await event_row(sessions, event_id)).last_error or "")
