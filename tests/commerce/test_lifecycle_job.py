"""The lapse job (domain/commerce/lifecycle.py) with an injected clock: access windows that end make
every instance re-check at that second and not before; manual subscriptions set to cancel end at
their period end with ``subscription.canceled``. And cancel / resume of a manual subscription
(domain/commerce/subscriptions.py): access kept to the period end, the audit trail says who."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from domain.clock import FrozenClock
from domain.commerce import lifecycle
from domain.commerce.lifecycle import LapseWatcher
from domain.commerce.subscriptions import SubscriptionCanceled, cancel_subscription, resume_subscription
from domain.errors import Conflict
from persistence.db import UnitOfWork
from persistence.models import BillingAuditEntry, Entitlement, Subscription
from tests.support.lifecycle import (
    Actor,
    Published,
    bought,
    contexts,
    ctx_of,
    entitlements_of,
    frozen_at,
    holds_access,
    second,
    subscribed,
    subscription_of,
)


async def _cancel(sessions, clock, sub, published=None, **kw):
    async with UnitOfWork(sessions, publisher=published) as uow:
        fresh = await uow.session.get(Subscription, sub.id)
        return await cancel_subscription(ctx_of(uow, clock), fresh, **kw)


async def _resume(sessions, clock, sub, published=None, **kw):
    async with UnitOfWork(sessions, publisher=published) as uow:
        fresh = await uow.session.get(Subscription, sub.id)
        return await resume_subscription(ctx_of(uow, clock), fresh, **kw)


async def _set_to_end(sessions, after):
    """A manual subscription set by staff to cancel at its period end, ``after`` from now (to the
    second): (what was bought, that end)."""
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + after
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    await _cancel(sessions, clock, sub, at_period_end=True, actor=Actor("staff"))
    return b, end


def rechecked(published, b):
    """How many access invalidations named the bought contact in its hub."""
    return sum((i.get("hub_id"), i.get("contact_id")) == (str(b.hub.id), str(b.contact.id))
               for i in published.invalidations())


async def _audit(sessions, sub):
    async with sessions() as s:
        return list((await s.execute(sa.select(BillingAuditEntry.action, BillingAuditEntry.actor_type,
                                                BillingAuditEntry.actor_contact_id)
                                      .where(BillingAuditEntry.target_id == sub.id)
                                      .order_by(BillingAuditEntry.created_at, BillingAuditEntry.id))).all())


async def test_the_job_re_checks_at_the_period_end_second_and_ends_a_manual_subscription(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + timedelta(days=20)
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    member = Actor("member", contact_id=b.contact.id)
    published = Published()
    await _cancel(sessions, clock, sub, published, at_period_end=True, actor=member)
    sub = await subscription_of(sessions, b)
    assert sub.status == "active" and sub.cancel_at_period_end and sub.canceled_at == clock.now()
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == end
    assert [x["data"]["cancel_at_period_end"] for x in published.events("subscription.updated")] == [True]
    assert ("subscription.cancel_scheduled", "member", b.contact.id) in await _audit(sessions, sub)

    # (Other tests share the database: what this contact sees is what counts.)
    published.clear()
    job = LapseWatcher(contexts(sessions, clock, published), clock)
    report = await job.run_once()
    assert not rechecked(published, b)
    assert report.next_due is not None and report.next_due <= end

    clock.set(end - timedelta(seconds=1))
    await job.run_once()
    assert not rechecked(published, b) and published.events() == []
    assert await holds_access(sessions, b, clock.now())

    clock.set(end)  # that second
    report = await job.run_once()
    assert report.lapsed >= 1 and report.ended >= 1
    assert not await holds_access(sessions, b, clock.now())
    assert rechecked(published, b) == 1
    sub = await subscription_of(sessions, b)
    assert sub.status == "canceled" and sub.ended_at == end
    assert [x["data"]["id"] for x in published.events("subscription.canceled")] == [str(sub.id)]

    published.clear()
    clock.advance(seconds=1)
    report = await job.run_once()  # once only
    assert (report.lapsed, report.ended) == (0, 0) and published.messages == []


class Ticking(FrozenClock):
    """Time that passes ``end`` while the job works: its first reading is just before, every
    later one just after."""

    def __init__(self, end):
        super().__init__(end - timedelta(milliseconds=1))
        self.end = end

    def now(self):
        at = super().now()
        self.set(self.end + timedelta(milliseconds=1))
        return at


async def test_an_end_reached_during_a_pass_is_still_the_next_one_due(sessions):
    """A pass that starts a moment before an access window ends finds nothing lapsed; the end it
    answers as next must still be that one, though the clock has passed it by the time the pass
    asks (it asked the clock again, and slept the whole interval: the live channel was kept)."""
    b, end = await _set_to_end(sessions, timedelta(days=3))
    ticking, published = Ticking(end), Published()
    job = LapseWatcher(contexts(sessions, ticking, published), ticking)
    report = await job.run_once()
    assert not rechecked(published, b)
    assert report.next_due == end  # only this test's end falls in that millisecond
    await job.run_once()  # when it looks again, that second: the socket is re-checked
    assert rechecked(published, b) == 1


async def test_the_running_job_re_checks_an_end_reached_during_its_pass(sessions):
    """The same race through the job's own loop (interval an hour): the re-check comes at once."""
    b, end = await _set_to_end(sessions, timedelta(days=4))
    ticking, published = Ticking(end), Published()
    job = LapseWatcher(contexts(sessions, ticking, published), ticking, interval=3600)
    await job.start()
    try:
        for _ in range(400):  # up to 20 s on a loaded machine; it slept the hour before
            if rechecked(published, b):
                break
            await asyncio.sleep(0.05)
    finally:
        await job.stop()
    assert rechecked(published, b) == 1


async def test_a_period_end_is_due_though_the_product_grants_nothing(sessions):
    """A manual subscription set to cancel whose entitlements are gone (or were never there) still
    ends at its period end: the job wakes for it, not only for entitlement ends."""
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + timedelta(days=5, seconds=7)
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    async with sessions() as s, s.begin():
        revoked = await s.execute(sa.update(Entitlement).where(Entitlement.source_id == str(sub.id))
                                  .values(revoked_at=clock.now()))
    assert revoked.rowcount == 1
    published = Published()
    await _cancel(sessions, clock, sub, published, at_period_end=True, actor=Actor("staff"))
    assert published.invalidations() == []  # no entitlement changed: nothing else would wake the job
    assert ("internal:lapse_watcher", b"wake") in published.messages
    clock.set(end - timedelta(seconds=1))
    report = await LapseWatcher(contexts(sessions, clock, Published()), clock).run_once()
    assert report.next_due == end  # only this test's end falls in that second


async def test_a_full_batch_of_period_ends_makes_the_next_pass_due_at_once(sessions, monkeypatch):
    """More subscriptions over than one pass ends: the pass answers its own now as the next due
    time, so the rest end at once rather than at the next end or the interval."""
    monkeypatch.setattr(lifecycle, "ENDING_BATCH", 1)
    clock = frozen_at(second())
    first = await bought(sessions, provider="manual")
    both = [first, await bought(sessions, provider="manual", like=first)]
    end = second(clock.now()) + timedelta(days=7, seconds=3)
    subs = [await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end) for b in both]
    for sub in subs:
        await _cancel(sessions, clock, sub, at_period_end=True, actor=Actor("staff"))
    clock.set(end)
    job = LapseWatcher(contexts(sessions, clock, Published()), clock)
    report = await job.run_once()
    assert report.ended == 1 and report.next_due == end
    # (Other tests share the database: theirs may be over too.) Each pass is due at once until
    # none is left over.
    for _ in range(500):
        report = await job.run_once()
        if report.next_due != end:
            break
    assert report.next_due is None or report.next_due > end
    async with sessions() as s:
        statuses = (await s.scalars(sa.select(Subscription.status).where(
            Subscription.id.in_([sub.id for sub in subs])))).all()
    assert statuses == ["canceled", "canceled"]


async def test_a_failed_pass_is_tried_again_soon_not_after_the_whole_interval(sessions):
    clock = frozen_at(second())
    good, calls = contexts(sessions, clock, Published()), []

    @asynccontextmanager
    async def flaky():
        calls.append(clock.now())
        if len(calls) == 1:
            raise ConnectionRefusedError("the database is away")
        async with good() as ctx:
            yield ctx

    job = LapseWatcher(flaky, clock, interval=3600, retry_after_failure=0.05)
    await job.start()
    try:
        for _ in range(400):  # up to 20 s on a loaded machine; it waited the hour before
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await job.stop()
    assert len(calls) >= 2


async def test_a_grace_period_end_is_re_checked_by_a_job_on_another_instance(sessions):
    """Two instances run the job with their own watermark; each re-checks at the second; a
    subscription is never ended twice."""
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + timedelta(hours=1)
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    await _cancel(sessions, clock, sub, at_period_end=True, actor=Actor("staff"))
    one, two = Published(), Published()
    jobs = [LapseWatcher(contexts(sessions, clock, one), clock), LapseWatcher(contexts(sessions, clock, two), clock)]
    for job in jobs:
        await job.run_once()
    clock.set(end + timedelta(milliseconds=300))
    reports = [await job.run_once() for job in jobs]
    assert (rechecked(one, b), rechecked(two, b)) == (1, 1)
    assert sum(r.ended for r in reports) >= 1
    canceled = [x["data"]["id"] for x in one.events("subscription.canceled") + two.events("subscription.canceled")]
    assert canceled.count(str(sub.id)) == 1


async def test_cancel_now_ends_access_at_once_and_resume_undoes_a_scheduled_cancel(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + timedelta(days=10)
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    staff = Actor("staff")
    await _cancel(sessions, clock, sub, at_period_end=True, actor=staff)
    await _cancel(sessions, clock, sub, at_period_end=True, actor=staff)  # again: nothing more
    published = Published()
    await _resume(sessions, clock, sub, published, actor=Actor("member", contact_id=b.contact.id))
    sub = await subscription_of(sessions, b)
    assert not sub.cancel_at_period_end and sub.canceled_at is None and sub.status == "active"
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at is None
    assert [x["data"]["cancel_at_period_end"] for x in published.events("subscription.updated")] == [False]
    await _resume(sessions, clock, sub, actor=staff)  # not scheduled: nothing to undo, nothing changes

    published.clear()
    clock.advance(hours=1)
    await _cancel(sessions, clock, sub, published, at_period_end=False, actor=staff, reason="chargeback risk")
    sub = await subscription_of(sessions, b)
    assert sub.status == "canceled" and sub.ended_at == clock.now()
    assert not await holds_access(sessions, b, clock.now())
    assert [x["event"] for x in published.events()] == ["subscription.updated", "subscription.canceled"]
    with pytest.raises(SubscriptionCanceled):
        await _cancel(sessions, clock, sub, at_period_end=True, actor=staff)
    with pytest.raises(SubscriptionCanceled):
        await _resume(sessions, clock, sub, actor=staff)
    actions = [a for a, _, _ in await _audit(sessions, sub)]
    assert actions.count("subscription.cancel_scheduled") == 1
    assert actions.count("subscription.resumed") == 1 and actions.count("subscription.canceled") == 1


async def test_resume_after_the_period_is_over_is_refused(sessions):
    clock = frozen_at(second())
    b = await bought(sessions, provider="manual")
    end = second(clock.now()) + timedelta(days=1)
    sub = await subscribed(sessions, clock, b, start=end - timedelta(days=30), end=end)
    await _cancel(sessions, clock, sub, at_period_end=True, actor=Actor("staff"))
    clock.set(end)
    with pytest.raises(Conflict) as refused:
        await _resume(sessions, clock, sub, actor=Actor("staff"))
    assert refused.value.code == "subscription_period_over"
