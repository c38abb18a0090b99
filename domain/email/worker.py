"""The email worker: claims due outbox rows, sends them, records the outcome.

Delivery is **at least once, with a stable Message-ID**. A row is claimed (``locked_until`` set,
``attempts`` counted) in one transaction, sent with no transaction open, and marked ``sent`` in
another. If the process dies after the SMTP server accepted the message but before it was marked
sent, the claim expires and a worker sends it again — with the same Message-ID, derived from the
idempotency key, so receivers and their threads can recognise the copy. What cannot happen: a
message that was marked ``sent`` being sent again (only ``pending`` rows are ever claimed), two
workers sending the same row at the same time (the claim is exclusive), or a message whose
transaction rolled back being sent (it was never written).

Transient failures (SMTP 4xx, connection errors) are retried with exponential backoff
(30 s · 2^(attempt-1), capped at an hour) until ``max_attempts``; permanent ones (SMTP 5xx) mark
the row ``failed`` at once. Either way ``last_error`` says why. Time comes from the injected clock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.clock import Clock
from domain.email.outbox import WAKE_CHANNEL
from domain.email.transport import (
    OutgoingEmail,
    PermanentSendError,
    TransientSendError,
    Transport,
)
from domain.polling import PollingWorker
from persistence.models import EmailOutbox

log = logging.getLogger("hubwire.email")


@dataclass
class RunReport:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


class EmailWorker(PollingWorker):
    """Sends what the outbox holds. ``run_once()`` does one pass (tests, the CLI); ``start()`` runs
    ``run()`` in the background, woken by enqueues (through the broker, after commit) or every
    ``poll_interval`` seconds, whichever comes first (``domain/polling.py``). Backoff: 30 s, 60 s,
    120 s, ... up to the cap."""

    name = "email worker"
    wake_channel = WAKE_CHANNEL
    log = log
    interrupted = "stopped in the middle of a send; that message goes again later"

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], transport: Transport, clock: Clock, *,
        default_from: str, broker: Any | None = None, batch_size: int = 20, max_attempts: int = 8,
        base_backoff: timedelta = timedelta(seconds=30), max_backoff: timedelta = timedelta(hours=1),
        lock_for: timedelta = timedelta(minutes=5), poll_interval: float = 5.0,
    ) -> None:
        super().__init__(broker=broker, batch_size=batch_size, base_backoff=base_backoff, max_backoff=max_backoff,
                         poll_interval=poll_interval)
        self.sessions = sessions
        self.transport = transport
        self.clock = clock
        self.default_from = default_from
        self.max_attempts = max_attempts
        self.lock_for = lock_for

    # ---- one pass ---------------------------------------------------------------------------------

    async def run_once(self) -> RunReport:
        """Claim the due messages (at most ``batch_size``), send each, record each outcome."""
        report = RunReport()
        claimed = await self._claim()
        report.claimed = len(claimed)
        for row in claimed:
            outcome = await self._send(row)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    async def _claim(self) -> list[EmailOutbox]:
        now = self.clock.now()
        locked_until = now + self.lock_for
        t = EmailOutbox
        due = sa.and_(t.status == "pending", t.next_attempt_at <= now,
                      sa.or_(t.locked_until.is_(None), t.locked_until <= now))
        async with self.sessions() as s, s.begin():
            if s.bind.dialect.name == "postgresql":
                # Rows another worker is claiming right now are skipped, not waited for.
                rows = list((await s.scalars(
                    sa.select(t).where(due).order_by(t.next_attempt_at, t.id).limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )).all())
                for row in rows:
                    row.locked_until = locked_until
                    row.attempts += 1
                return rows
            # SQLite has one writer at a time: a single conditional UPDATE claims atomically.
            pick = sa.select(t.id).where(due).order_by(t.next_attempt_at, t.id).limit(self.batch_size)
            ids = list((await s.scalars(
                sa.update(t).where(t.id.in_(pick.scalar_subquery()), due)
                .values(locked_until=locked_until, attempts=t.attempts + 1).returning(t.id)
            )).all())
            if not ids:
                return []
            rows = (await s.scalars(
                sa.select(t).where(t.id.in_(ids)).order_by(t.next_attempt_at, t.id)
                .execution_options(populate_existing=True)
            )).all()
            return list(rows)

    async def _send(self, row: EmailOutbox) -> str:
        email = OutgoingEmail(
            idempotency_key=row.idempotency_key, from_email=row.from_email or self.default_from,
            to_email=row.to_email, subject=row.subject, text_body=row.text_body, html_body=row.html_body,
            reply_to=row.reply_to, created_at=row.created_at,
        )
        try:
            await self.transport.send(email)
        except PermanentSendError as exc:
            await self._record(row.id, status="failed", error=str(exc))
            log.warning("email %s refused for good: %s", row.idempotency_key, exc)
            return "failed"
        except TransientSendError as exc:
            if row.attempts >= self.max_attempts:
                await self._record(row.id, status="failed", error=f"gave up after {row.attempts} attempts: {exc}")
                log.warning("email %s failed after %d attempts: %s", row.idempotency_key, row.attempts, exc)
                return "failed"
            retry_at = self.clock.now() + self.backoff(row.attempts)
            await self._record(row.id, status="pending", error=str(exc), next_attempt_at=retry_at)
            log.info("email %s deferred until %s: %s", row.idempotency_key, retry_at.isoformat(), exc)
            return "retried"
        except Exception as exc:  # a bug or an unexpected failure: keep the row, try again later
            retry_at = self.clock.now() + self.backoff(row.attempts)
            await self._record(row.id, status="failed" if row.attempts >= self.max_attempts else "pending",
                               error=f"unexpected error: {exc!r}", next_attempt_at=retry_at)
            log.exception("email %s: unexpected error while sending", row.idempotency_key)
            return "retried"
        await self._record(row.id, status="sent")
        log.info("email %s sent to %s", row.idempotency_key, row.to_email)
        return "sent"

    async def _record(self, row_id: uuid.UUID, *, status: str, error: str | None = None,
                      next_attempt_at: Any = None) -> None:
        now = self.clock.now()
        values: dict[str, Any] = {"status": status, "locked_until": None}
        if status == "sent":
            values.update(sent_at=now, last_error=None)
        else:
            values["last_error"] = (error or "")[:4000]
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        async with self.sessions() as s, s.begin():
            # Only a pending row changes: never turn a row another worker marked sent back.
            await s.execute(sa.update(EmailOutbox)
                            .where(EmailOutbox.id == row_id, EmailOutbox.status == "pending").values(**values))
