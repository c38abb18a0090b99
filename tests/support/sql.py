"""Counting the SQL statements one request sends (tests that say "a constant number of statements
per request"; nothing is timed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from tests.support.app import in_app


@contextlib.contextmanager
def counting(client: Any, app: Any) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends meanwhile from tasks started meanwhile (the
    request's): the background workers (outbox relays, scheduler) poll the same engine from tasks
    that were already running, and are not counted."""
    seen: list[str] = []
    engine = app.state.services.engine.sync_engine

    async def running() -> set[asyncio.Task[Any]]:
        return set(asyncio.all_tasks())

    before = in_app(client, running)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task not in before:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
