"""The loop the outbox workers share: drain what is due, then sleep until woken or polled.

``PollingWorker`` is the part of the email worker (``domain/email/worker.py``) and the
provider-event worker (``domain/commerce/provider_event_worker.py``) that has nothing to do with
what they send or apply: a pass (``run_once``, the subclass's) repeated while it comes back with a
full batch; a wake-up through the broker (a message on ``wake_channel``, published after the commit
that queued the work) or every ``poll_interval`` seconds, whichever comes first; exponential
backoff for what must be tried again; and a stop that lets the item in hand finish for up to
``grace`` seconds. A failed pass is logged as one line, without a traceback, when it is an outage
or a lost race (``persistence.db``), and with one otherwise; the loop goes on either way.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Protocol

from persistence.db import is_database_unavailable, is_transaction_conflict


class PassReport(Protocol):
    claimed: int


class PollingWorker:
    """Subclasses set ``name`` (for logs and the task), ``wake_channel`` and ``log``, implement
    ``run_once()`` and may override ``interrupted`` (logged when ``stop`` had to cancel)."""

    name = "worker"
    wake_channel = ""
    log = logging.getLogger("hubwire")
    interrupted = "stopped in the middle of an item; it is tried again later"

    def __init__(self, *, broker: Any | None, batch_size: int, base_backoff: timedelta, max_backoff: timedelta,
                 poll_interval: float) -> None:
        self.broker = broker
        self.batch_size = batch_size
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try: the base, twice it, four times... up to the cap."""
        return min(self.base_backoff * (2 ** max(0, attempts - 1)), self.max_backoff)

    async def run_once(self) -> PassReport:
        raise NotImplementedError

    def wake(self) -> None:
        """Look for due work now rather than at the next poll."""
        self._wake.set()

    async def _on_wake(self, _channel: str, _payload: bytes) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work until ``stop()``: drain what is due, then wait for a wake-up or the poll interval."""
        while not self._stopping:
            self._wake.clear()  # before the pass, so work queued during it is not missed
            try:
                while not self._stopping:
                    report = await self.run_once()
                    if report.claimed < self.batch_size:
                        break
            except Exception as exc:
                if is_database_unavailable(exc):  # an outage: one line per pass, no traceback
                    self.log.warning("%s: database unavailable (%s); retrying in %.0f s", self.name,
                                     type(exc).__name__, self.poll_interval)
                elif is_transaction_conflict(exc):  # lost a race with another instance's pass
                    self.log.warning("%s: transaction conflict (%s); retrying in %.0f s", self.name,
                                     type(exc).__name__, self.poll_interval)
                else:
                    self.log.exception("%s pass failed; retrying in %.0f s", self.name, self.poll_interval)
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        if self.broker is not None:
            await self.broker.subscribe(self.wake_channel, self._on_wake)
        self._task = asyncio.create_task(self.run(), name=f"hubwire-{self.name.replace(' ', '-')}")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the item in hand finish (up to ``grace`` seconds), then stop; cut off, it is tried
        again later (each worker says how, in ``interrupted``)."""
        self._stopping = True
        self._wake.set()
        if self.broker is not None:
            try:
                await self.broker.unsubscribe(self.wake_channel, self._on_wake)
            except Exception:  # the broker may already be gone at shutdown
                self.log.debug("%s: unsubscribe failed at shutdown", self.name, exc_info=True)
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                self.log.info("%s %s", self.name, self.interrupted)
