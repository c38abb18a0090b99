"""The lapse job: access that ends with time ends on every live socket at that second.

An entitlement's ``ends_at`` (a subscription's period end after a cancel at period end, the end of a
past-due grace period, a staff grant's window) is applied by the access evaluator at the time it
decides, so a new request or subscribe is refused from that second on without anyone doing anything.
A socket that already holds a channel, though, is only re-checked when the facts change. This job
makes that happen: :meth:`LapseWatcher.run_once` finds the entitlements whose ``ends_at`` passed
since its last pass and calls ``facts_changed`` for each (hub, contact), and answers when the next
end (or local period end) after that pass's own ``now`` comes (``LapseReport.next_due``: the pass
runs again then, or after ``interval`` seconds, 60 by default, when none is nearer; 5 s after a
failed pass, then 10, 20... up to the interval while it keeps failing). The next
end is read in the same transaction and against the same ``now`` as the pass: read a moment later,
an end falling between the two reads would be neither lapsed nor still to come, and would wait for
the ``interval``. Every change to an entitlement already announces itself on ``access:invalidate``
(the access facts cache needs it): that wakes the job on every instance to look at the next end
again, at most once per ``min_interval`` (1 s), and so do a local subscription's cancel at period
end (``LAPSE_WAKE``: its product may grant nothing, so no entitlement changes) and the broker
reconnecting. A pass that ended a full batch (``ENDING_BATCH``) of subscriptions is due again at
once (its own invalidations wake it, so after ``min_interval``). An idle server
no longer asks the database twice a second (bench/README.md). After commit every instance drops those facts
and its realtime gateway re-checks the contact's sockets, which lose the channels they may no
longer hold with ``access_revoked``.

It also ends ``manual`` and ``free`` subscriptions set to cancel at period end once that period is
over (``subscriptions.end_local_at_period_end``: ``canceled``, ``subscription.canceled``); Stripe's
own come with ``customer.subscription.deleted``.

Every instance runs it; a repeated invalidation is harmless and a subscription is ended once (the
row is locked and its status checked). Its time comes from the injected clock; the first pass looks
back ``lookback`` (10 minutes), so ends that passed while no instance ran still re-check sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import INVALIDATE_CHANNEL, facts_changed
from domain.clock import Clock
from domain.commerce.subscriptions import LAPSE_WAKE, LOCAL_PROVIDERS, end_local_at_period_end
from domain.context import Ctx
from domain.polling import TaskJob, Wakeup, log_failed_pass, retry_wait
from persistence.models import Entitlement, Subscription

log = logging.getLogger("hubwire.commerce")

RETRY_AFTER_FAILURE = 5.0  # seconds before a failed pass (the database away) is tried again
ENDING_BATCH = 200  # local subscriptions ended per pass

# A local subscription set to cancel that the job ends at its period end (with its entitlements'
# end, usually; not when the product grants nothing).
_ENDING = (Subscription.provider.in_(LOCAL_PROVIDERS), Subscription.status != "canceled",
           Subscription.cancel_at_period_end.is_(True))


async def _next_end(ctx: Ctx, after: datetime) -> datetime | None:
    """The earliest entitlement end or local period end to come after ``after``."""
    s = ctx.uow.session
    ends = [await s.scalar(sa.select(sa.func.min(Entitlement.ends_at))
                           .where(Entitlement.ends_at > after, Entitlement.revoked_at.is_(None))),
            await s.scalar(sa.select(sa.func.min(Subscription.current_period_end))
                           .where(*_ENDING, Subscription.current_period_end > after))]
    return min((e for e in ends if e is not None), default=None)


@dataclass
class LapseReport:
    lapsed: int = 0  # (hub, contact) pairs whose access window ended since the last pass
    ended: int = 0  # local subscriptions ended at their period end
    # the next end after this pass's now (None: none is known); the pass's now after a full batch
    next_due: datetime | None = None


class LapseWatcher:
    def __init__(self, contexts: Callable[[], AbstractAsyncContextManager[Ctx]], clock: Clock, *,
                 interval: float = 60.0, min_interval: float = 1.0, lookback: timedelta = timedelta(minutes=10),
                 broker: Any | None = None, retry_after_failure: float = RETRY_AFTER_FAILURE) -> None:
        self._contexts = contexts
        self.retry_after_failure = retry_after_failure
        self.clock = clock
        self.interval = interval
        self.min_interval = min_interval
        self._wakeup = Wakeup(broker, (INVALIDATE_CHANNEL, LAPSE_WAKE))
        self.lookback = lookback
        self.since: datetime | None = None
        self._job = TaskJob("hubwire-lapse-watcher", self._run)

    async def run_once(self) -> LapseReport:
        """One pass at the clock's ``now``: invalidate what lapsed in (since, now], end the local
        subscriptions whose period is over, and find the next end after ``now``."""
        now = self.clock.now()
        since = self.since or now - self.lookback
        report = LapseReport()
        async with self._contexts() as ctx:
            s = ctx.uow.session
            pairs = (await s.execute(
                sa.select(Entitlement.hub_id, Entitlement.contact_id).distinct()
                .where(Entitlement.ends_at > since, Entitlement.ends_at <= now, Entitlement.revoked_at.is_(None))
            )).all()
            for hub_id, contact_id in sorted(pairs):
                facts_changed(ctx.uow, hub_id=hub_id, contact_id=contact_id)
            report.lapsed = len(pairs)
            stmt = (sa.select(Subscription).where(*_ENDING, Subscription.current_period_end <= now)
                    .order_by(Subscription.id).limit(ENDING_BATCH))
            if s.bind.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            subs = (await s.scalars(stmt)).all()
            for sub in subs:
                if await end_local_at_period_end(ctx, sub):
                    report.ended += 1
            # a full batch: more are over already, the next pass is due at once
            report.next_due = now if len(subs) == ENDING_BATCH else await _next_end(ctx, now)
        self.since = now
        if report.lapsed or report.ended:
            log.info("lapse job: %d access window(s) ended, %d subscription(s) ended", report.lapsed, report.ended)
        return report

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wakeup.clear()  # before the pass: a change made during it wakes the wait
            started = time.monotonic()
            wait = self.interval
            try:
                due = (await self.run_once()).next_due
                failures = 0
                if due is not None:
                    wait = max(0.01, min(wait, (due - self.clock.now()).total_seconds()))
            except Exception as exc:
                failures += 1
                wait = retry_wait(failures, self.retry_after_failure, self.interval)
                log_failed_pass(log, "lapse job", exc, wait)
            if await self._wakeup.wait(wait):
                # woken by a change: look again, but not more often than every min_interval
                await asyncio.sleep(max(0.0, started + self.min_interval - time.monotonic()))

    async def start(self) -> None:
        await self._wakeup.start()
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
        await self._wakeup.stop()
