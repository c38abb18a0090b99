"""Publishing scheduled discussions at their ``publish_at``.

:func:`publish_due` publishes, in one unit of work, every scheduled discussion whose time has come
(``publish_at <= now``, to the second the clock says), and announces each (``discussion.created``)
after commit. Each row is claimed with a conditional UPDATE (``status = 'scheduled'``), so when
several instances run the loop a discussion is published, and announced, exactly once.

:class:`PublishLoop` runs it, then waits until the next ``publish_at`` after that pass's ``now``
(:func:`next_due`, read in the same transaction: a discussion the pass could not publish, its space
deleted, is not due again and again), at once after a full batch, at most ``interval`` seconds (60
by default; 5 s after a failed pass, then 10, 20... up to the interval while it keeps failing), or
until woken: scheduling or rescheduling a discussion publishes ``SCHEDULER_WAKE`` after commit
(``domain.community.discussions``), which wakes the loop of every instance, and so does the broker
reconnecting. An idle server does not
ask the database every second (it did: a pass per second per instance, bench/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.community.discussions import SCHEDULER_WAKE, announce
from domain.context import Ctx
from domain.polling import TaskJob, Wakeup, log_failed_pass, retry_wait
from persistence.models import Discussion, Space

log = logging.getLogger("hubwire.community")

BATCH = 200
RETRY_AFTER_FAILURE = 5.0  # seconds before a failed pass (the database away) is tried again


# What publish_due publishes once its publish_at has come (joined with Space).
_PUBLISHABLE = (Discussion.status == "scheduled", Discussion.deleted_at.is_(None), Space.deleted_at.is_(None))


async def publish_due(ctx: Ctx, *, limit: int = BATCH) -> list[Discussion]:
    """Publish the scheduled discussions due at ``ctx.now()`` (oldest ``publish_at`` first, at
    most ``limit``); they are announced once ``ctx.uow`` commits. Returns those published here."""
    published, _ = await _publish_due(ctx, ctx.now(), limit)
    return published


async def _publish_due(ctx: Ctx, now: datetime, limit: int) -> tuple[list[Discussion], int]:
    """``publish_due`` at ``now``; also answers how many were due (a full batch: more may be)."""
    uow = ctx.uow
    s = uow.session
    due = (await s.execute(
        sa.select(Discussion, Space).join(Space, Space.id == Discussion.space_id)
        .where(*_PUBLISHABLE, Discussion.publish_at <= now).order_by(Discussion.publish_at, Discussion.id).limit(limit)
    )).all()
    published: list[Discussion] = []
    for d, space in due:
        at = d.publish_at or now
        claimed = await s.execute(
            sa.update(Discussion).where(Discussion.id == d.id, Discussion.status == "scheduled",
                                        Discussion.deleted_at.is_(None))
            .values(status="published", published_at=at, last_activity_at=at, updated_at=now)
            .execution_options(synchronize_session=False))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue  # another instance published it first (or it was deleted meanwhile)
        await s.refresh(d)
        if d.removed_at is None:
            await announce(uow, d, space, "discussion.created", at)
        published.append(d)
    return published, len(due)


async def next_due(ctx: Ctx, after: datetime) -> datetime | None:
    """The earliest ``publish_at`` after ``after`` of a discussion ``publish_due`` would publish
    then (None: nothing publishable is scheduled after ``after``)."""
    due: datetime | None = await ctx.uow.session.scalar(
        sa.select(sa.func.min(Discussion.publish_at)).join(Space, Space.id == Discussion.space_id)
        .where(*_PUBLISHABLE, Discussion.publish_at > after))
    return due


class PublishLoop:
    """Runs :func:`publish_due` when a scheduled discussion is due (see the module docstring), each
    round in its own unit of work from ``contexts`` (``Services.context``); a failed round is
    logged and tried again ``retry_after_failure`` seconds later."""

    def __init__(self, contexts: Callable[[], AbstractAsyncContextManager[Ctx]], *, interval: float = 60.0,
                 broker: Any | None = None, retry_after_failure: float = RETRY_AFTER_FAILURE) -> None:
        self._contexts = contexts
        self._interval = interval
        self._retry = retry_after_failure
        self._wakeup = Wakeup(broker, (SCHEDULER_WAKE,))
        self._job = TaskJob("hubwire-community-scheduler", self._run)

    async def run_once(self) -> float | None:
        """One batch; the seconds until the next pass is due: 0 after a full batch (more may be
        due), else until the next ``publish_at`` after this pass's ``now`` (None: nothing
        publishable is scheduled)."""
        async with self._contexts() as ctx:
            now = ctx.now()
            _, due_now = await _publish_due(ctx, now, BATCH)
            if due_now >= BATCH:
                return 0.0
            due = await next_due(ctx, now)
            return None if due is None else (due - ctx.now()).total_seconds()

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wakeup.clear()  # before the pass: what is scheduled during it wakes the wait
            wait = self._interval
            try:
                until = await self.run_once()
                while until is not None and until <= 0:  # a full batch (or one just due): go on
                    until = await self.run_once()
                failures = 0
                if until is not None:
                    wait = max(0.01, min(wait, until))
            except Exception as exc:
                failures += 1
                wait = retry_wait(failures, self._retry, self._interval)
                log_failed_pass(log, "publishing scheduled discussions", exc, wait)
            await self._wakeup.wait(wait)

    async def start(self) -> None:
        await self._wakeup.start()
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
        await self._wakeup.stop()
