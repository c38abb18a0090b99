"""Background jobs (server/jobs.py): each runs while the app does and is stopped at shutdown, and a
job whose stop never ends does not hold shutdown: it is given up on, with one ERROR line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from server import jobs
from server.app import create_app
from tests.support.app import in_app
from tests.support.backends import make_settings

# the task each job runs, by the name it is kept under in app.state
TASKS = {
    "email_worker": "hubwire-email-worker",
    "community_scheduler": "hubwire-community-scheduler",
    "provider_event_worker": "hubwire-provider-event-worker",
    "lapse_watcher": "hubwire-lapse-watcher",
    "realtime_outbox_relay": "hubwire-outbox-relay",
}


async def running() -> dict[str, list[asyncio.Task[Any]]]:
    """The tasks running on the app's event loop (the test client serves it from a thread), by name."""
    tasks: dict[str, list[asyncio.Task[Any]]] = {}
    for task in asyncio.all_tasks():
        if not task.done():
            tasks.setdefault(task.get_name(), []).append(task)
    return tasks


async def test_every_job_runs_while_the_app_does_and_stops_with_it(tmp_path: Path, database_url: str,
                                                                   redis_prefix: str) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_prefix))
    assert {lifespan.__name__ for lifespan in jobs.BEFORE_GATEWAY + jobs.AFTER_GATEWAY} == set(TASKS)
    async with AsyncTestClient(app) as c:
        now = in_app(c, running)
        tasks = {}
        for state_name, task_name in TASKS.items():
            assert getattr(app.state, state_name) is not None
            (tasks[state_name],) = now.get(task_name, [])  # exactly one, started by the lifespan
    assert {name: task.done() for name, task in tasks.items()} == {name: True for name in TASKS}


class Stuck:
    """A job whose stop does not return, cancellation included, until the test releases it (or,
    so that a regression fails rather than hangs, for 30 s)."""

    def __init__(self) -> None:
        self.started = self.stopping = self.stopped = False
        self.released = asyncio.Event()

    async def start(self) -> None:  # an async start is awaited; a plain one (the loops') just called
        self.started = True

    async def stop(self) -> None:
        self.stopping = True
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while not self.released.is_set() and loop.time() < give_up:
            try:
                await asyncio.wait_for(self.released.wait(), give_up - loop.time())
            except (asyncio.CancelledError, TimeoutError):
                continue
        self.stopped = True


async def test_a_stop_that_never_ends_does_not_hold_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    job = Stuck()
    lifespan = jobs._background("stuck_job", lambda _services: job, stop_timeout=0.05)
    app = SimpleNamespace(state=SimpleNamespace(services=None))
    with caplog.at_level(logging.ERROR, logger="hubwire.jobs"):
        async with lifespan(app):  # type: ignore[arg-type]
            assert job.started and app.state.stuck_job is job
    # shutdown went on while the stop was still waiting, and said so
    assert job.stopping and not job.stopped
    assert [r.getMessage() for r in caplog.records] == [
        "background job stuck_job did not stop within 0.05 s; left behind at shutdown"]
    job.released.set()  # the stop left behind ends, or the test's event loop could not close
    while not job.stopped:
        await asyncio.sleep(0.01)


async def test_a_stop_that_fails_says_so() -> None:
    class Broken(Stuck):
        async def stop(self) -> None:
            raise RuntimeError("broken stop")

    lifespan = jobs._background("broken_job", lambda _services: Broken())
    app = SimpleNamespace(state=SimpleNamespace(services=None))
    with pytest.raises(RuntimeError, match="broken stop"):
        async with lifespan(app):  # type: ignore[arg-type]
            pass
