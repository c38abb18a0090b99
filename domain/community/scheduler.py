"""Publishing scheduled discussions at their ``publish_at``.

:func:`publish_due` publishes, in one unit of work, every scheduled discussion whose time has come
(``publish_at <= now``, to the second the clock says), and announces each (``discussion.created``)
after commit. Each row is claimed with a conditional UPDATE (``status = 'scheduled'``), so when
several instances run the loop a discussion is published, and announced, exactly once.
:class:`PublishLoop` runs it every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa

from domain.community.discussions import announce
from domain.context import Ctx
from domain.polling import TaskJob, log_failed_pass
from persistence.models import Discussion, Space

log = logging.getLogger("hubwire.community")

BATCH = 200


async def publish_due(ctx: Ctx, *, limit: int = BATCH) -> list[Discussion]:
    """Publish the scheduled discussions due at ``ctx.now()`` (oldest ``publish_at`` first, at
    most ``limit``); they are announced once ``ctx.uow`` commits. Returns those published here."""
    uow, now = ctx.uow, ctx.now()
    s = uow.session
    due = (await s.execute(
        sa.select(Discussion, Space).join(Space, Space.id == Discussion.space_id)
        .where(Discussion.status == "scheduled", Discussion.publish_at <= now, Discussion.deleted_at.is_(None),
               Space.deleted_at.is_(None))
        .order_by(Discussion.publish_at, Discussion.id).limit(limit)
    )).all()
    published: list[Discussion] = []
    for d, space in due:
        at = d.publish_at or now
        claimed = await s.execute(
            sa.update(Discussion).where(Discussion.id == d.id, Discussion.status == "scheduled")
            .values(status="published", published_at=at, last_activity_at=at, updated_at=now)
            .execution_options(synchronize_session=False))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue  # another instance published it first
        await s.refresh(d)
        if d.removed_at is None:
            await announce(uow, d, space, "discussion.created", at)
        published.append(d)
    return published


class PublishLoop:
    """Runs :func:`publish_due` every ``interval`` seconds until stopped, each round in its own
    unit of work from ``contexts`` (``Services.context``); a failed round is logged and the next
    one tries again."""

    def __init__(self, contexts: Callable[[], AbstractAsyncContextManager[Ctx]], *, interval: float = 1.0) -> None:
        self._contexts = contexts
        self._interval = interval
        self._job = TaskJob("hubwire-community-scheduler", self._run)

    async def run_once(self) -> int:
        async with self._contexts() as ctx:
            return len(await publish_due(ctx))

    async def _run(self) -> None:
        while True:
            try:
                while await self.run_once() >= BATCH:
                    pass  # a backlog: keep going without waiting
            except Exception as exc:
                log_failed_pass(log, "publishing scheduled discussions", exc)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
