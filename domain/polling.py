"""The loops the background jobs share.

``TaskJob`` is a coroutine run as one task from ``start`` and cancelled at ``stop`` (the lapse
watcher, the community scheduler, the realtime outbox relay); ``log_failed_pass`` is how every
loop reports a pass that failed.

``Wakeup`` is how a loop waits: for a time, or for a broker message that says its work changed
(the community scheduler, the lapse job and the polling workers).

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
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Protocol

from persistence.db import is_database_unavailable, is_transaction_conflict

log = logging.getLogger("hubwire.jobs")


class PassReport(Protocol):
    claimed: int


def log_failed_pass(log: logging.Logger, what: str, exc: Exception, retry: float | None = None) -> None:
    """One line for a failed pass of ``what``: a WARNING without a traceback for an outage or a lost
    race (``persistence.db``), an ERROR with one for anything else (a bug)."""
    later = "" if retry is None else f"; retrying in {retry:.0f} s"
    if is_database_unavailable(exc):  # an outage: one line per pass, no traceback
        log.warning("%s: database unavailable (%s)%s", what, type(exc).__name__, later)
    elif is_transaction_conflict(exc):  # lost a race with another instance's pass
        log.warning("%s: transaction conflict (%s)%s", what, type(exc).__name__, later)
    else:
        log.exception("%s pass failed%s", what, later)


def retry_wait(failures: int, first: float, longest: float) -> float:
    """The wait before trying again after ``failures`` failures in a row: ``first``, twice it, four
    times... at most ``longest`` (a pass of the lapse job or the scheduler; an item of a polling
    worker, ``PollingWorker.backoff``). A broken pass is not logged every few seconds for ever."""
    return min(first * 2 ** max(0, failures - 1), longest)


class TaskJob:
    """A coroutine function run as one task from ``start``, cancelled at ``stop``."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name, self._run = name, run
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Wakeup:
    """How a loop that knows when its next work is due waits for it: until then (at most its
    longest wait), or until something changes what is due — a message on one of ``channels``
    (published after the commit that changed it, on any instance), or the broker reconnecting
    (messages sent meanwhile were lost to this instance). ``clear()`` before a pass, so a change
    made during the pass wakes the next wait at once."""

    def __init__(self, broker: Any | None, channels: tuple[str, ...]) -> None:
        self.broker, self.channels = broker, channels
        self._event = asyncio.Event()
        self._subscribed = False
        self._reconnect_noted = False

    async def start(self) -> None:
        if self.broker is None or self._subscribed:
            return
        for channel in self.channels:
            await self.broker.subscribe(channel, self._on_message)
        if not self._reconnect_noted:  # once: a restarted loop keeps the same callback
            self.broker.on_reconnect(self._on_reconnect)
            self._reconnect_noted = True
        self._subscribed = True

    async def stop(self) -> None:
        if self.broker is None or not self._subscribed:
            return
        self._subscribed = False
        for channel in self.channels:
            try:
                await self.broker.unsubscribe(channel, self._on_message)
            except Exception:  # the broker may already be gone at shutdown
                log.debug("unsubscribing from %s failed at shutdown", channel, exc_info=True)

    def wake(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` or until woken; True when woken."""
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    async def _on_message(self, _channel: str, _payload: bytes) -> None:
        self._event.set()

    async def _on_reconnect(self) -> None:
        self._event.set()


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
        self._wakeup = Wakeup(broker, (self.wake_channel,))
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try: the base, twice it, four times... up to the cap."""
        return timedelta(seconds=retry_wait(attempts, self.base_backoff.total_seconds(),
                                            self.max_backoff.total_seconds()))

    async def run_once(self) -> PassReport:
        raise NotImplementedError

    def wake(self) -> None:
        """Look for due work now rather than at the next poll."""
        self._wakeup.wake()

    async def run(self) -> None:
        """Work until ``stop()``: drain what is due, then wait for a wake-up or the poll interval."""
        while not self._stopping:
            self._wakeup.clear()  # before the pass, so work queued during it is not missed
            try:
                while not self._stopping:
                    report = await self.run_once()
                    if report.claimed < self.batch_size:
                        break
            except Exception as exc:
                log_failed_pass(self.log, self.name, exc, self.poll_interval)
            if self._stopping:
                break
            await self._wakeup.wait(self.poll_interval)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        await self._wakeup.start()
        self._task = asyncio.create_task(self.run(), name=f"hubwire-{self.name.replace(' ', '-')}")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the item in hand finish (up to ``grace`` seconds), then stop; cut off, it is tried
        again later (each worker says how, in ``interrupted``)."""
        self._stopping = True
        self._wakeup.wake()
        await self._wakeup.stop()
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
