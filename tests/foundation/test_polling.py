"""The loop the outbox workers share (domain/polling.py): a pass that fails goes on at the next
wake-up; a lost race or an outage is one WARNING line without a traceback, anything else an ERROR
with one; ``stop`` ends the loop and unsubscribes from its wake-up channel."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from domain.polling import PollingWorker, retry_wait
from realtime.broker import InProcessBroker
from tests.support.conflicts import real_conflict


@dataclass
class Report:
    claimed: int = 0


class Flaky(PollingWorker):
    name = "flaky worker"
    wake_channel = "test:flaky-wake"
    log = logging.getLogger("hubwire.test.polling")

    def __init__(self, failures: list[BaseException], broker: InProcessBroker) -> None:
        super().__init__(broker=broker, batch_size=5, base_backoff=timedelta(seconds=2),
                         max_backoff=timedelta(seconds=10), poll_interval=60.0)
        self.failures = failures
        self.passes = 0
        self.passed = asyncio.Event()

    async def run_once(self) -> Report:
        self.passes += 1
        self.passed.set()
        if self.failures:
            raise self.failures.pop(0)
        return Report()


async def test_failed_passes_are_logged_by_kind_and_the_loop_goes_on(database_url: str) -> None:
    conflict = await real_conflict(database_url)
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign]
    Flaky.log.addHandler(listener)
    Flaky.log.setLevel(logging.DEBUG)
    broker = InProcessBroker()
    await broker.start()
    worker = Flaky([conflict, RuntimeError("a bug")], broker)
    try:
        await worker.start()
        for expected in (1, 2, 3):  # each pass ends; a published wake-up starts the next one
            await asyncio.wait_for(worker.passed.wait(), 5)
            worker.passed.clear()
            assert worker.passes == expected
            if expected < 3:
                await asyncio.sleep(0.05)
                await broker.publish(Flaky.wake_channel, b"")
        await worker.stop(grace=5)
        await broker.publish(Flaky.wake_channel, b"")  # unsubscribed: no pass after stop
        await asyncio.sleep(0.1)
        assert worker.passes == 3
    finally:
        Flaky.log.removeHandler(listener)
        await broker.stop()
    failed = [r for r in records if r.levelno >= logging.WARNING]
    assert [(r.levelno, r.exc_info is not None) for r in failed] == [(logging.WARNING, False), (logging.ERROR, True)]
    assert "flaky worker: transaction conflict" in failed[0].getMessage()
    assert "flaky worker pass failed" in failed[1].getMessage()


def test_backoff_doubles_up_to_the_cap() -> None:
    worker = Flaky([], InProcessBroker())
    assert [worker.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


def test_a_failing_loop_waits_longer_after_each_failure_up_to_its_interval() -> None:
    """The lapse job and the scheduler: 5 s after a failed pass, then 10, 20... at most their
    interval, so a pass that keeps failing is not logged every 5 s for ever."""
    assert [retry_wait(n, 5.0, 60.0) for n in (1, 2, 3, 4, 5, 9)] == [5, 10, 20, 40, 60, 60]
