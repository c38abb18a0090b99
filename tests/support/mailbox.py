"""Test support for email and member login: a real SMTP server (aiosmtpd) that collects what it
accepts and can be told to refuse, dedicated databases, and a Hubwire app that sends through it.

Used as a plugin (``pytest_plugins = ["tests.support.mailbox"]``) so its session fixtures exist once.

The email tests get databases of their own: every running app has an email worker, and a worker
sends any due row of its database, so an app sharing the run's main database (the shared test app,
the end-to-end servers) could take a message before the app under test does.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.clock import OffsetClock
from persistence import migrate
from persistence.db import create_engine
from persistence.models import Contact, Hub, HubMembership, HubPolicy, Team
from server.app import create_app
from server.services import Services
from tests.support.backends import make_settings

T = TypeVar("T")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class Inbox:
    """An aiosmtpd handler: keeps every accepted message; ``script`` answers DATA with the next
    reply in it (``None`` = accept), ``always`` answers every DATA with one reply."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refused: list[str] = []
        self.script: list[str | None] = []
        self.always: str | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.refused.clear()
            self.script.clear()
            self.always = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            reply = self.always if self.always is not None else (self.script.pop(0) if self.script else None)
            if reply is not None:
                self.refused.append(reply)
                return reply
            msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 20.0) -> list[Received]:
        """The messages to ``address`` once there are ``count`` of them (polled in small steps)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.to(address)
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} message(s) to {address}, got {len(found)}")
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox


def start_smtp() -> tuple[Controller, SmtpServer]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, SmtpServer("127.0.0.1", port, inbox)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    controller, server = start_smtp()
    yield server
    controller.stop()


async def migrated_database(databases: Any, label: str) -> str:
    url = str(await databases.new(label))
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
async def mail_database_url(databases: Any) -> str:
    return await migrated_database(databases, "mail")


@pytest.fixture(scope="session")
def mail_clock_session() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def mail_clock(mail_clock_session: OffsetClock) -> Iterator[OffsetClock]:
    yield mail_clock_session
    mail_clock_session.reset()


@pytest.fixture(scope="session")
def mail_app(tmp_root: Path, mail_database_url: str, redis_prefix: str, smtp_server: SmtpServer,
             mail_clock_session: OffsetClock) -> Litestar:
    settings = make_settings(
        tmp_root / "mail-app", mail_database_url, redis_prefix + "mail-app:",
        HUBWIRE_SMTP_HOST=smtp_server.host, HUBWIRE_SMTP_PORT=str(smtp_server.port), HUBWIRE_SMTP_TLS="none",
        HUBWIRE_PUBLIC_URL="https://hubwire.example.test", HUBWIRE_MAIL_FROM="Hubwire <no-reply@hubwire.example.test>",
    )
    return create_app(settings, clock=mail_clock_session)


@pytest.fixture(scope="session")
async def mail_client(mail_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(mail_app, base_url="http://testserver.local") as c:
        yield c


def services_of(app: Litestar) -> Services:
    return app.state.services  # type: ignore[no-any-return]


# ---- setup helpers: hubs and memberships straight through the models ------------------------------


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def unique_email(label: str = "member") -> str:
    return f"{unique(label)}@example.test"


class AppDb:
    """Setup and inspection through an app's own unit of work. The test client serves the app
    from its own event loop (a portal thread) and the app's database pool belongs to that loop,
    so every call here runs there and blocks until it is done."""

    def __init__(self, client: AsyncTestClient[Litestar], app: Litestar) -> None:
        self.client = client
        self.services = services_of(app)

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.client.blocking_portal.call(fn, *args)  # type: ignore[union-attr]

    def query(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """``fn(session)`` inside one transaction of the app."""

        async def go() -> T:
            async with self.services.uow() as uow:
                return await fn(uow.session)

        return self.run(go)

    def make_hub(self, *, name: str = "Creator Hub", is_private: bool = False,
                 origins: list[str] | None = None) -> Hub:
        now = self.services.clock.now()

        async def go(s: Any) -> Hub:
            team = Team(name=unique("Team"), slug=unique("team"), created_at=now, updated_at=now)
            s.add(team)
            await s.flush()
            hub = Hub(team_id=team.id, name=name, slug=unique("hub"), is_private=is_private, branding={},
                      navigation={}, settings={}, meta={}, allowed_redirect_origins=list(origins or []),
                      created_at=now, updated_at=now)
            s.add(hub)
            await s.flush()
            return hub

        return self.query(go)

    def make_member(self, hub: Hub, email: str, *, status: str = "active", role: str = "member",
                    status_expires_at: Any = None) -> tuple[Contact, HubMembership]:
        now = self.services.clock.now()

        async def go(s: Any) -> tuple[Contact, HubMembership]:
            contact = Contact(email=email, created_at=now, updated_at=now)
            s.add(contact)
            await s.flush()
            membership = HubMembership(
                hub_id=hub.id, contact_id=contact.id, team_id=hub.team_id, role=role, status=status,
                status_expires_at=status_expires_at, onboarding={"state": "not_started"},
                notification_preferences={}, profile={}, joined_at=now, created_at=now, updated_at=now,
            )
            s.add(membership)
            await s.flush()
            return contact, membership

        return self.query(go)

    def update(self, model: type, id: Any, **values: Any) -> None:
        async def go(s: Any) -> None:
            row = await s.get(model, id)
            assert row is not None
            for k, v in values.items():
                setattr(row, k, v)

        self.query(go)

    def set_policy(self, hub: Hub, policy_type: str, version: int, *, require_acceptance: bool = True,
                   content: str = "The terms.") -> None:
        now = self.services.clock.now()

        async def go(s: Any) -> None:
            p = await s.scalar(sa.select(HubPolicy).where(HubPolicy.hub_id == hub.id,
                                                          HubPolicy.policy_type == policy_type))
            if p is None:
                s.add(HubPolicy(hub_id=hub.id, policy_type=policy_type, content=content, version=version,
                                require_acceptance=require_acceptance, created_at=now, updated_at=now))
            else:
                p.version, p.content, p.require_acceptance, p.updated_at = version, content, require_acceptance, now

        self.query(go)


LINK = re.compile(r"https?://\S+")


def link_in(received: Received) -> str:
    links = [u for u in LINK.findall(received.text) if "token=" in u]
    assert len(links) == 1, received.text
    return links[0]


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


@pytest.fixture
def mail_db(mail_client: AsyncTestClient[Litestar], mail_app: Litestar) -> AppDb:
    return AppDb(mail_client, mail_app)


@pytest.fixture
def app_db(client: AsyncTestClient[Litestar], app: Litestar) -> AppDb:
    return AppDb(client, app)
