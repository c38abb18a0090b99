"""Shared setup for the community tests (direct messages, directory, moderation): a hub with
members and their tokens, spaces / discussions / comments written straight to the database, the
broker listener and database helpers (re-exported from tests/support/app.py and hubs.py), and
:func:`race` (requests really at once, on PostgreSQL behind a held lock)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa

from persistence.ids import new_id
from persistence.models import Comment, Discussion, Space, SpaceMember
from tests.support.api import Staff, assert_error, bearer, doc, register, unique_email, w
from tests.support.app import Listener, db_rows, db_write, in_app
from tests.support.hubs import Hub, act, add, mint, new_hub

__all__ = [
    "Hub",
    "Listener",
    "Member",
    "Request",
    "World",
    "act",
    "add_member",
    "assert_error",
    "bearer",
    "db_rows",
    "db_write",
    "doc",
    "in_app",
    "new_hub",
    "LogLines",
    "race",
    "register",
    "row_lock",
    "w",
    "world",
]


@dataclass
class Member:
    contact_id: str
    token: str
    hub: Hub

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def wh(self) -> dict[str, str]:
        return w(bearer(self.token))

    def url(self, suffix: str) -> str:
        return f"/api/v1/hub/{self.hub.id}{suffix}"


@dataclass
class World:
    staff: Staff
    hub: Hub
    members: list[Member] = field(default_factory=list)


async def add_member(client: Any, staff: Staff, hub: Hub, *, email: str | None = None, role: str = "member") -> Member:
    r = await add(client, staff.headers, hub, email=email or unique_email("member"), role=role)
    assert r.status_code in (200, 201), r.text
    cid = r.json()["data"]["attributes"]["contact_id"]
    t = await mint(client, staff.headers, hub, cid)
    assert t.status_code == 201, t.text
    return Member(cid, t.json()["data"]["attributes"]["access_token"], hub)


async def world(client: Any, n: int = 3) -> World:
    staff = await register(client)
    hub = await new_hub(client, staff)
    wd = World(staff, hub)
    for _ in range(n):
        wd.members.append(await add_member(client, staff, hub))
    return wd


async def set_me(client: Any, m: Member, **attrs: Any) -> None:
    r = await client.patch(m.url("/me"), json=doc("members", attrs), headers=m.wh)
    assert r.status_code == 200, r.text


def now_of(clock: Any) -> datetime:
    return clock.now()  # type: ignore[no-any-return]


def make_space(client: Any, app: Any, clock: Any, hub_id: str, *, access_level: str = "open",
               members: list[str] = (), deleted: bool = False) -> str:  # type: ignore[assignment]
    now = clock.now()
    sid = new_id()
    space = Space(id=sid, hub_id=uuid.UUID(hub_id), name=f"Space {sid.hex[:6]}", slug=f"s-{sid.hex[:12]}",
                  access_level=access_level, created_at=now, updated_at=now, deleted_at=now if deleted else None)
    db_write(client, app, space)
    rows = [SpaceMember(space_id=sid, contact_id=uuid.UUID(c), created_at=now) for c in members]
    if rows:
        db_write(client, app, *rows)
    return str(sid)


def make_discussion(client: Any, app: Any, clock: Any, hub_id: str, space_id: str, author: str, *,
                    status: str = "published") -> str:
    now = clock.now()
    did = new_id()
    db_write(client, app, Discussion(
        id=did, hub_id=uuid.UUID(hub_id), space_id=uuid.UUID(space_id), author_contact_id=uuid.UUID(author),
        title="A discussion", body="Body", status=status, published_at=now if status == "published" else None,
        last_activity_at=now, created_at=now, updated_at=now))
    return str(did)


def make_comment(client: Any, app: Any, clock: Any, hub_id: str, discussion_id: str, author: str, *,
                 removed: bool = False) -> str:
    now = clock.now()
    cid = new_id()
    db_write(client, app, Comment(
        id=cid, hub_id=uuid.UUID(hub_id), discussion_id=uuid.UUID(discussion_id), author_contact_id=uuid.UUID(author),
        body="A comment", removed_at=now if removed else None, created_at=now, updated_at=now))
    return str(cid)


def events_of(listener: Listener) -> list[tuple[str, str, dict[str, Any]]]:
    """(channel, event, data) of every event on the listener's channel since the last drain."""
    return [(e["channel"], e["event"], e["data"]) for e in listener.drain()]


Request = tuple[str, str, dict[str, str], Any]  # method, url, headers, JSON body (or bytes, sent as they are)


def row_lock(model: Any, row_id: str) -> Any:
    """``SELECT ... FOR UPDATE`` of one row of ``model`` by id (what :func:`race` can hold)."""
    return sa.select(model.id).where(model.id == uuid.UUID(row_id)).with_for_update()


class LogLines(logging.Handler):
    """The messages one logger emits (at DEBUG and up) while in a ``with`` block: how a race test
    sees that the contested branch ran. A handler on the logger itself, not on the root (which
    the app's logging config replaces when an app starts)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(logger)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, prefix: str) -> int:
        return sum(line.startswith(prefix) for line in self.lines)

    def __enter__(self) -> LogLines:
        self._level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


def race(client: Any, app: Any, hold: Any, *requests: Request, in_turn: bool = False) -> list[Any]:
    """Send ``requests`` to the app all at once, on its own loop (the test client would send them
    one after the other), and return their responses in the same order.

    On PostgreSQL the holder runs ``hold`` (a row lock, or a table lock) in a transaction of its
    own, and keeps it until every request waits (behind the holder or one another): all of them
    are in flight before any of them goes on, so whatever serializes them has to be a lock they
    take. With ``in_turn`` each request is sent only once the ones before it wait, so they queue
    for a row in the order given. A request that goes through while ``hold`` is held fails the
    test. On SQLite every transaction takes the write lock when it begins, so they queue there
    anyway (with ``in_turn`` they are sent one after the other, in order)."""

    async def run() -> list[Any]:
        svc = app.state.services
        async with svc.uow() as holder, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                           base_url="http://testserver.local") as http:
            def send(method: str, url: str, headers: dict[str, str], body: Any) -> Any:
                raw = {"content": body} if isinstance(body, bytes) else {"json": body}  # bytes: sent as they are
                return asyncio.ensure_future(http.request(method, url, headers=headers, **raw))

            if svc.engine.dialect.name != "postgresql":
                if in_turn:
                    return [await send(*r) for r in requests]
                return list(await asyncio.gather(*(send(*r) for r in requests)))
            await holder.session.execute(hold)
            pid = await holder.session.scalar(sa.text("SELECT pg_backend_pid()"))
            sent: list[Any] = []
            for batch in ([[r] for r in requests] if in_turn else [list(requests)]):
                sent += [send(*r) for r in batch]
                for _ in range(1000):  # until each request sent so far waits for a lock
                    async with svc.uow() as probe:
                        waiting = await probe.session.scalar(sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND pid <> :pid AND cardinality(pg_blocking_pids(pid)) > 0"), {"pid": pid})
                    if waiting == len(sent):
                        break
                    done = [r[:2] for r, t in zip(requests, sent) if t.done()]
                    assert not done, f"went through while the holder held its lock: {done}"
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the requests never all waited for the holder's lock")
            await holder.rollback()
            return list(await asyncio.gather(*sent))

    return in_app(client, run)  # type: ignore[no-any-return]
