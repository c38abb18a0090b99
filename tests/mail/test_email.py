"""The email path: outbox rows written in the caller's transaction, a worker that sends them
through a real SMTP server (aiosmtpd, started by the tests) with retries, backoff and give-up, and
the embedded default that writes ``.eml`` files.

These tests drive ``EmailWorker.run_once()`` by hand with a frozen clock, on a database of their
own that no running app's worker polls, so every pass is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.clock import FrozenClock
from domain.email.outbox import WAKE_CHANNEL, enqueue_email
from domain.email.transport import (
    EmlFileTransport,
    OutgoingEmail,
    SmtpTransport,
    message_id,
    safe_filename,
)
from domain.email.worker import EmailWorker
from persistence.db import UnitOfWork, create_engine, session_factory
from persistence.models import EmailOutbox
from server.mailer import transport_for
from tests.support.backends import make_settings
from tests.support.mailbox import SmtpServer, free_port, migrated_database, unique, unique_email

pytest_plugins = ["tests.support.mailbox"]

FROM = "Hubwire <no-reply@hubwire.example.test>"


@pytest.fixture(scope="module")
async def outbox_db(databases: Any) -> AsyncIterator[Any]:
    url = await migrated_database(databases, "outbox")
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def sessions(outbox_db: Any, smtp_server: SmtpServer) -> AsyncIterator[Any]:
    # Each test starts from an empty outbox and a fresh mailbox: passes take whatever is due.
    async with outbox_db() as s, s.begin():
        await s.execute(sa.delete(EmailOutbox))
    smtp_server.inbox.reset()
    yield outbox_db
    smtp_server.inbox.reset()


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


def smtp_worker(sessions: Any, server: SmtpServer, clock: FrozenClock, **kw: Any) -> EmailWorker:
    transport = SmtpTransport(server.host, server.port, tls="none", timeout=10)
    return EmailWorker(sessions, transport, clock, default_from=FROM, **kw)


async def enqueue(sessions: Any, clock: FrozenClock, key: str, to: str, **kw: Any) -> Any:
    async with UnitOfWork(sessions) as uow:
        return await enqueue_email(uow, clock.now(), idempotency_key=key, kind="test", to_email=to,
                                   subject="Hello", text_body=f"Body for {key}", **kw)


async def row(sessions: Any, key: str) -> EmailOutbox:
    async with sessions() as s:
        r = await s.scalar(sa.select(EmailOutbox).where(EmailOutbox.idempotency_key == key))
        assert r is not None
        return r


async def test_a_queued_email_is_sent_through_smtp_with_a_message_id_from_its_key(sessions, smtp_server, frozen):
    key, to = unique("welcome"), unique_email("to")
    assert await enqueue(sessions, frozen, key, to, html_body="<p>Hi</p>", reply_to="help@example.test") is not None
    worker = smtp_worker(sessions, smtp_server, frozen)

    report = await worker.run_once()

    assert (report.claimed, report.sent) == (1, 1)
    [got] = smtp_server.inbox.to(to)
    assert got.mail_from == "no-reply@hubwire.example.test"
    assert got.message["Message-ID"] == message_id(key, FROM)
    assert got.message["Reply-To"] == "help@example.test"
    assert got.message["Subject"] == "Hello"
    assert got.text.strip() == f"Body for {key}"
    assert got.message.get_body(preferencelist=("html",)).get_content().strip() == "<p>Hi</p>"
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.sent_at, r.locked_until, r.last_error) == ("sent", 1, frozen.now(), None, None)
    assert (await worker.run_once()).claimed == 0  # a sent message is never taken again
    assert len(smtp_server.inbox.to(to)) == 1


async def test_the_same_idempotency_key_is_queued_and_sent_once(sessions, smtp_server, frozen):
    key, to = unique("once"), unique_email("once")
    async with UnitOfWork(sessions) as uow:
        first = await enqueue_email(uow, frozen.now(), idempotency_key=key, kind="test", to_email=to, subject="A",
                                    text_body="first")
        again = await enqueue_email(uow, frozen.now(), idempotency_key=key, kind="test", to_email=to, subject="B",
                                    text_body="second")
    later = await enqueue(sessions, frozen, key, to)
    assert first is not None and again is None and later is None

    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).where(EmailOutbox.idempotency_key == key)) == 1
    worker = smtp_worker(sessions, smtp_server, frozen)
    assert (await worker.run_once()).sent == 1
    assert (await worker.run_once()).claimed == 0
    [got] = smtp_server.inbox.to(to)
    assert got.text.strip() == "first"


async def test_an_email_queued_in_a_rolled_back_transaction_is_never_sent(sessions, smtp_server, frozen):
    key, to = unique("rollback"), unique_email("rollback")
    woken: list[str] = []

    async def publisher(channel: str, payload: bytes) -> None:
        woken.append(channel)

    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessions, publisher=publisher) as uow:
            assert await enqueue_email(uow, frozen.now(), idempotency_key=key, kind="test", to_email=to,
                                       subject="never", text_body="never") is not None
            raise RuntimeError("the change that caused the email failed")

    assert woken == []  # the worker is not even woken
    async with sessions() as s:
        assert await s.scalar(sa.select(EmailOutbox).where(EmailOutbox.idempotency_key == key)) is None
    assert (await smtp_worker(sessions, smtp_server, frozen).run_once()).claimed == 0
    assert smtp_server.inbox.to(to) == []

    # ... while a committed one wakes the worker after the commit
    async with UnitOfWork(sessions, publisher=publisher) as uow:
        await enqueue_email(uow, frozen.now(), idempotency_key=unique("k"), kind="test", to_email=to, subject="s",
                            text_body="b")
        assert woken == []
    assert woken == [WAKE_CHANNEL]


async def test_a_4xx_answer_is_retried_with_exponential_backoff_until_accepted(sessions, smtp_server, frozen):
    key, to = unique("retry"), unique_email("retry")
    smtp_server.inbox.script = ["451 4.3.0 Try again later", "452 4.3.1 Still busy", None]
    await enqueue(sessions, frozen, key, to)
    worker = smtp_worker(sessions, smtp_server, frozen)
    start = frozen.now()

    report = await worker.run_once()
    assert (report.claimed, report.retried, report.sent) == (1, 1, 0)
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.locked_until) == ("pending", 1, None)
    assert r.next_attempt_at == start + timedelta(seconds=30)
    assert "451" in (r.last_error or "")

    frozen.advance(seconds=29)
    assert (await worker.run_once()).claimed == 0  # not due yet
    frozen.advance(seconds=1)
    assert (await worker.run_once()).retried == 1
    r = await row(sessions, key)
    assert r.attempts == 2
    assert r.next_attempt_at == start + timedelta(seconds=30 + 60)  # doubled
    assert "452" in (r.last_error or "")

    frozen.advance(seconds=59)
    assert (await worker.run_once()).claimed == 0
    frozen.advance(seconds=1)
    assert (await worker.run_once()).sent == 1
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.sent_at, r.last_error) == ("sent", 3, frozen.now(), None)
    assert smtp_server.inbox.refused == ["451 4.3.0 Try again later", "452 4.3.1 Still busy"]
    [got] = smtp_server.inbox.to(to)
    assert got.message["Message-ID"] == message_id(key, FROM)


async def test_transient_failures_give_up_after_the_last_attempt(sessions, smtp_server, frozen):
    key, to = unique("giveup"), unique_email("giveup")
    smtp_server.inbox.always = "421 4.7.0 Come back later"
    await enqueue(sessions, frozen, key, to)
    worker = smtp_worker(sessions, smtp_server, frozen, max_attempts=3)

    for attempt in (1, 2):
        assert (await worker.run_once()).retried == 1
        r = await row(sessions, key)
        assert (r.status, r.attempts) == ("pending", attempt)
        frozen.set(r.next_attempt_at)
    assert (await worker.run_once()).failed == 1
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.sent_at) == ("failed", 3, None)
    assert "gave up after 3 attempts" in (r.last_error or "") and "421" in (r.last_error or "")
    frozen.advance(days=1)
    assert (await worker.run_once()).claimed == 0
    assert smtp_server.inbox.to(to) == []


async def test_a_5xx_answer_fails_at_once(sessions, smtp_server, frozen):
    key, to = unique("refused"), unique_email("refused")
    smtp_server.inbox.always = "554 5.7.1 Message rejected"
    await enqueue(sessions, frozen, key, to)
    worker = smtp_worker(sessions, smtp_server, frozen)

    report = await worker.run_once()

    assert (report.claimed, report.failed, report.retried) == (1, 1, 0)
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.sent_at) == ("failed", 1, None)
    assert "554" in (r.last_error or "") and "rejected" in (r.last_error or "")
    frozen.advance(days=1)
    assert (await worker.run_once()).claimed == 0
    assert smtp_server.inbox.to(to) == []


async def test_an_unreachable_server_is_a_transient_failure(sessions, frozen):
    key = unique("down")
    await enqueue(sessions, frozen, key, unique_email("down"))
    closed = SmtpTransport("127.0.0.1", free_port(), tls="none", timeout=5)
    worker = EmailWorker(sessions, closed, frozen, default_from=FROM)

    assert (await worker.run_once()).retried == 1
    r = await row(sessions, key)
    assert (r.status, r.attempts, r.next_attempt_at) == ("pending", 1, frozen.now() + timedelta(seconds=30))
    assert r.last_error


async def test_backoff_doubles_and_is_capped():
    w = EmailWorker(None, None, FrozenClock(), default_from=FROM)  # type: ignore[arg-type]
    assert [w.backoff(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]


async def test_concurrent_workers_send_each_message_once(sessions, smtp_server, frozen):
    to = unique_email("many")
    for i in range(12):
        await enqueue(sessions, frozen, unique(f"many{i}"), to)
    workers = [smtp_worker(sessions, smtp_server, frozen, batch_size=5) for _ in range(3)]

    reports = await asyncio.gather(*(w.run_once() for w in workers))
    while sum(r.claimed for r in reports):  # drain whatever was left for later passes
        reports = await asyncio.gather(*(w.run_once() for w in workers))

    got = smtp_server.inbox.to(to)
    assert len(got) == 12
    assert len({m.message["Message-ID"] for m in got}) == 12


async def test_a_crash_after_smtp_accepted_resends_with_the_same_message_id(sessions, smtp_server, frozen):
    """At least once, honestly: the message went out but the worker died before marking it sent.
    The claim keeps other workers off it until it expires; then it is sent again, same Message-ID."""
    key, to = unique("crash"), unique_email("crash")
    await enqueue(sessions, frozen, key, to)
    worker = smtp_worker(sessions, smtp_server, frozen)

    [claimed] = await worker._claim()  # the crashed worker's claim ...
    await worker.transport.send(OutgoingEmail(key, FROM, to, claimed.subject, claimed.text_body))  # ... and send
    assert (await worker.run_once()).claimed == 0  # still locked: nobody else sends it meanwhile
    frozen.advance(minutes=5)
    assert (await worker.run_once()).sent == 1

    first, second = smtp_server.inbox.to(to)
    assert first.message["Message-ID"] == second.message["Message-ID"] == message_id(key, FROM)
    assert (await row(sessions, key)).status == "sent"
    frozen.advance(minutes=10)
    assert (await worker.run_once()).claimed == 0  # and once marked sent, never again


async def test_the_embedded_default_writes_eml_files_once_per_key(sessions, tmp_root: Path, frozen, database_url, redis_prefix):
    settings = make_settings(tmp_root / unique("eml"), database_url, redis_prefix + "eml:")
    transport = transport_for(settings)
    assert isinstance(transport, EmlFileTransport)
    assert transport.directory == settings.data_dir / "outbox"
    key, to = "magic_link:" + unique("k"), unique_email("eml")
    await enqueue(sessions, frozen, key, to)
    worker = EmailWorker(sessions, transport, frozen, default_from=FROM)

    assert (await worker.run_once()).sent == 1
    path = settings.data_dir / "outbox" / (safe_filename(key) + ".eml")
    assert path.name.startswith("magic_link%3A") and path.exists()
    first = path.read_bytes()
    assert f"To: {to}".encode() in first and f"Body for {key}".encode() in first
    assert message_id(key, FROM).encode() in first

    # a resend of the same key (a crash before it was marked sent) replaces the file
    async with sessions() as s, s.begin():
        await s.execute(sa.update(EmailOutbox).where(EmailOutbox.idempotency_key == key).values(status="pending"))
    assert (await worker.run_once()).sent == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert path.read_bytes() == first


async def test_smtp_settings_choose_the_smtp_transport(tmp_root: Path, database_url, redis_prefix):
    settings = make_settings(tmp_root / unique("smtp"), database_url, redis_prefix + "smtp:",
                             HUBWIRE_SMTP_HOST="mail.example.test", HUBWIRE_SMTP_PORT="465", HUBWIRE_SMTP_TLS="tls",
                             HUBWIRE_SMTP_USERNAME="u", HUBWIRE_SMTP_PASSWORD="p")
    transport = transport_for(settings)
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.tls) == ("mail.example.test", 465, "tls")


def test_filenames_are_safe_and_distinct():
    assert safe_filename("a:b") != safe_filename("a_b") != safe_filename("a%3Ab")
    assert "/" not in safe_filename("../../etc/passwd") and not safe_filename("..x").startswith(".")
    long = safe_filename("k" * 200)
    assert len(long) < 200 and long != safe_filename("k" * 199)
