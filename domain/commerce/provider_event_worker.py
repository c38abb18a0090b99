"""The provider-event worker: claims due events, applies each exactly once, retries what is not known
yet.

**Claim.** One short transaction takes up to ``batch_size`` due events (``status = 'pending' and
next_attempt_at <= now``, oldest first). It counts an attempt on each and moves its
``next_attempt_at`` one lease (5 minutes) ahead. While the lease runs, no other worker takes the
event. If this worker dies, the event falls due again when the lease ends and another worker takes
it. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``, so two instances claiming at the same moment
take different events. SQLite has one writer at a time, and a conditional UPDATE claims atomically.

**Apply.** Each claimed event gets one transaction of its own. That transaction locks the row again
(only if it is still ``pending`` and still carries the attempt this worker counted), matches the
event to its order (``matching.py``), runs the handler registered for its type, and marks it
``processed``. If the handler returns :class:`Ignored`, it marks it ``ignored`` with the reason. All
of this commits or rolls back together. An event is therefore applied exactly once: by two
instances, by two deliveries of it, and by a crash followed by the retry. What a handler queued
for after commit (events, cache invalidations, emails) leaves only with that commit.

**Retry.** If the handler raises :class:`NotYetKnown` (the event names something we don't have
yet), or anything else (a bug, a lost connection), the transaction rolls back. A second one
records ``last_error`` and makes the event due again after a backoff of 5 s · 2^(attempt-1), capped
at an hour. After ``max_attempts`` (12, about 2½ hours) the event is ``failed``. Staff can replay it
(provider_events.replay_provider_event). An event whose stored payload cannot be read fails at once.

Time comes from the injected clock; handlers get a ``Ctx`` whose unit of work is the event's
transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from domain.access.cache import FactsCache
from domain.clock import Clock
from domain.commerce.matching import order_for_event
from domain.commerce.provider_events import WAKE_CHANNEL, Handler, Ignored, NotYetKnown, parse_event
from domain.context import Ctx, Limiter
from domain.polling import PollingWorker
from persistence.db import UnitOfWork, is_database_unavailable, is_transaction_conflict
from persistence.models import PaymentWebhookEvent

log = logging.getLogger("hubwire.commerce")


@dataclass
class RunReport:
    """What one pass did."""

    claimed: int = 0
    processed: int = 0
    ignored: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # claimed, then found taken over by another worker (after its lease ended)


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    attempts: int


class Unreadable(Exception):
    """The stored payload is not an event: no attempt will ever apply it."""


class ProviderEventWorker(PollingWorker):
    """Applies what ``payment_webhook_events`` holds. ``run_once()`` does one pass (tests, the CLI).
    ``start()`` runs ``run()`` in the background, woken by newly stored events and replays (through
    the broker, after commit) or every ``poll_interval`` seconds, whichever comes first
    (``domain/polling.py``). Backoff: 5 s, 10 s, 20 s, ... up to the cap."""

    name = "provider event worker"
    wake_channel = WAKE_CHANNEL
    log = log
    interrupted = "stopped in the middle of an event; it is applied again later"

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], clock: Clock, access: FactsCache, limiter: Limiter,
        handlers: Mapping[str, Handler], *, broker: Any | None = None, batch_size: int = 20,
        max_attempts: int = 12, base_backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(hours=1), lease: timedelta = timedelta(minutes=5),
        poll_interval: float = 5.0,
    ) -> None:
        super().__init__(broker=broker, batch_size=batch_size, base_backoff=base_backoff, max_backoff=max_backoff,
                         poll_interval=poll_interval)
        self.uow_factory = uow_factory
        self.clock = clock
        self.access = access
        self.limiter = limiter
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.lease = lease

    # ---- one pass ---------------------------------------------------------------------------------

    async def run_once(self) -> RunReport:
        """Claim the due events (at most ``batch_size``) and apply each, oldest first."""
        report = RunReport()
        claims = await self.claim()
        report.claimed = len(claims)
        for claim in claims:
            outcome = await self.apply(claim)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    async def claim(self) -> list[Claim]:
        """Take the due events for one lease (see the module docstring)."""
        now = self.clock.now()
        t = PaymentWebhookEvent
        due = sa.and_(t.status == "pending", t.next_attempt_at <= now)
        order = (t.next_attempt_at, t.event_created, t.id)
        async with self.uow_factory() as uow:
            s = uow.session
            if s.bind.dialect.name == "postgresql":
                # Events another worker is claiming right now are skipped, not waited for.
                ids = list((await s.scalars(
                    sa.select(t.id).where(due).order_by(*order).limit(self.batch_size)
                    .with_for_update(skip_locked=True))).all())
                if not ids:
                    return []
                where = t.id.in_(ids)
            else:
                # SQLite has one writer at a time: a single conditional UPDATE claims atomically.
                where = sa.and_(t.id.in_(sa.select(t.id).where(due).order_by(*order).limit(self.batch_size)
                                         .scalar_subquery()), due)
            rows = (await s.execute(
                sa.update(t).where(where).values(attempts=t.attempts + 1, next_attempt_at=now + self.lease)
                .returning(t.id, t.attempts, t.event_created))).all()
        rows.sort(key=lambda r: (r.event_created is None, r.event_created or now, r.id))
        return [Claim(r.id, r.attempts) for r in rows]

    async def apply(self, claim: Claim) -> str:
        """Apply one claimed event in one transaction; record a retry when it cannot be applied."""
        seen: dict[str, Any] = {}
        try:
            return await self._apply(claim, seen)
        except Unreadable as exc:
            await self._record(claim, f"unreadable payload: {exc}", seen, give_up=True)
            log.warning("provider event %s: unreadable payload, failed: %s", claim.id, exc)
            return "failed"
        except NotYetKnown as exc:
            error = f"not yet known: {exc}"
        except Exception as exc:  # a bug, a lost connection: roll back, keep the event, try again later
            if is_transaction_conflict(exc) or is_database_unavailable(exc):  # not a bug: no traceback
                log.warning("provider event %s (%s): rolled back (%s), retried later", claim.id, seen.get("type"),
                            type(getattr(exc, "orig", None) or exc).__name__)
            else:
                log.exception("provider event %s (%s): handler failed", claim.id, seen.get("type"))
            error = f"unexpected error: {exc!r}"
        return await self._record(claim, error, seen)

    async def _apply(self, claim: Claim, seen: dict[str, Any]) -> str:
        t = PaymentWebhookEvent
        async with self.uow_factory() as uow:
            s = uow.session
            stmt = sa.select(t).where(t.id == claim.id, t.status == "pending", t.attempts == claim.attempts)
            if s.bind.dialect.name == "postgresql":
                # Wait for a lock another transaction holds, never skip: another worker's claim
                # can hold this row for a moment though it does not take it (PostgreSQL locks a
                # row that changed under a FOR UPDATE scan before re-checking its WHERE, and keeps
                # the lock when the row no longer qualifies). Skipping then left a claimed event
                # unapplied for a whole lease (seen: test_workers_racing_apply_each_event_once).
                # A worker that took the event over holds it while applying; the attempt check
                # below then skips it once that commits.
                stmt = stmt.with_for_update()
            row = await s.scalar(stmt)
            if row is None:
                return "skipped"  # applied, or taken over once our lease ended
            seen["type"] = row.type
            try:
                event = parse_event(row)
            except ValueError as exc:
                raise Unreadable(str(exc)) from None
            event.order = await order_for_event(s, row.provider, event.object)
            if event.order is not None:
                row.team_id, row.hub_id = event.order.team_id, event.order.hub_id
                seen.update(team_id=row.team_id, hub_id=row.hub_id)
            handler = self.handlers.get(row.type) if row.provider == "stripe" else None
            if handler is None:
                outcome: Ignored | None = Ignored(f"{row.type}: Hubwire does not act on this event")
            else:
                outcome = await handler(Ctx(uow, self.clock, self.access, self.limiter), event)
            row.status = "ignored" if isinstance(outcome, Ignored) else "processed"
            row.last_error = outcome.reason[:4000] if isinstance(outcome, Ignored) else None
            row.processed_at = self.clock.now()
            log.info("provider event %s %s: %s", row.event_id, row.type, row.status)
            return row.status

    async def _record(self, claim: Claim, error: str, seen: dict[str, Any], *, give_up: bool = False) -> str:
        """After a rolled-back attempt: due again after the backoff, or ``failed`` after the last."""
        failed = give_up or claim.attempts >= self.max_attempts
        values: dict[str, Any] = {"last_error": error[:4000], "status": "failed" if failed else "pending"}
        if not failed:
            values["next_attempt_at"] = self.clock.now() + self.backoff(claim.attempts)
        if "hub_id" in seen:  # matched before the handler gave up: staff of that hub can see it waiting
            values.update(team_id=seen["team_id"], hub_id=seen["hub_id"])
        t = PaymentWebhookEvent
        async with self.uow_factory() as uow:
            # Only our own claim changes: an event another worker took over is theirs to record.
            done = await uow.session.execute(
                sa.update(t).where(t.id == claim.id, t.status == "pending", t.attempts == claim.attempts)
                .values(**values).execution_options(synchronize_session=False))
        if not done.rowcount:  # type: ignore[attr-defined]
            return "skipped"
        if failed:
            log.warning("provider event %s failed after %d attempts: %s", claim.id, claim.attempts, error)
        return "failed" if failed else "retried"
