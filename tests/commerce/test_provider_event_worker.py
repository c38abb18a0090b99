"""The provider-event worker (domain/commerce/provider_event_worker.py) with trivial handlers: each
stored event is applied exactly once, by one worker or several racing, across a crash in the middle
of a handler and across a worker that dies holding its claim. An event about something not known yet
is retried with backoff and ``failed`` after the last attempt. A replay runs the handler again and
changes nothing more. The worker runs by hand (``run_once``) on a database of its own, with a frozen
clock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from domain.access.cache import FactsCache
from domain.clock import FrozenClock
from domain.commerce.provider_event_handlers import HANDLERS
from domain.commerce.provider_event_worker import ProviderEventWorker
from domain.commerce.provider_events import (
    Ignored,
    NotYetKnown,
    ProviderEvent,
    record_provider_event,
    replay_provider_event,
)
from domain.context import Ctx
from domain.identity.principals import ApiKeyPrincipal
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.ids import new_id
from persistence.models import BillingAuditEntry, PaymentWebhookEvent, Team
from realtime.broker import InProcessBroker
from server.integrations.stripe import verify_webhook
from server.ratelimit import MemoryRateLimiter
from tests.support.backends import REDIS_URL
from tests.support.payments import WEBHOOK_SECRET, order_rows, sign, stripe_event
from tests.support.servers import hubwire_command

Handler = Callable[[Ctx, ProviderEvent], Awaitable[Ignored | None]]


def worker(sessions: Any, clock: FrozenClock, handlers: dict[str, Handler], **kw: Any) -> ProviderEventWorker:
    return ProviderEventWorker(lambda: UnitOfWork(sessions), clock, FactsCache(), MemoryRateLimiter(), handlers, **kw)


async def store(sessions: Any, clock: FrozenClock, type_: str = "test.happened", obj: dict[str, Any] | None = None,
                *, publisher: Any = None, **event: Any) -> str:
    """Store an event as the webhook route does (verified, then recorded); its event id."""
    body = stripe_event(type_, obj or {"id": f"obj_{uuid.uuid4().hex[:12]}", "object": "thing"}, **event)
    async with UnitOfWork(sessions, publisher=publisher) as uow:
        received = verify_webhook(body, sign(body), WEBHOOK_SECRET)
        assert await record_provider_event(Ctx(uow, clock, FactsCache(), MemoryRateLimiter()), received)
    return str(json.loads(body)["id"])


async def add(sessions: Any, *rows: Any) -> None:
    async with sessions() as s, s.begin():
        for row in rows:
            s.add(row)
            await s.flush()


async def row(sessions: Any, event_id: str) -> PaymentWebhookEvent:
    async with sessions() as s:
        found = await s.scalar(sa.select(PaymentWebhookEvent).where(PaymentWebhookEvent.event_id == event_id))
        assert found is not None
        return found


async def effects(sessions: Any) -> list[str]:
    """The event ids the test handlers applied, once per application."""
    async with sessions() as s:
        return list((await s.scalars(sa.select(BillingAuditEntry.reason).where(
            BillingAuditEntry.action == "test.applied").order_by(BillingAuditEntry.id))).all())


@pytest.fixture
async def team(sessions: Any) -> Team:
    rows, _ = order_rows()
    await add(sessions, rows[0])
    return rows[0]  # type: ignore[no-any-return]


def applying(team: Team, *, before: Callable[[ProviderEvent], Awaitable[None]] | None = None,
             idempotent: bool = False) -> Handler:
    """A handler whose effect is a row (an audit entry naming the event), written in the event's
    transaction. ``before`` runs after the effect is written and may raise; ``idempotent``: nothing
    the second time, as real handlers do."""

    async def handle(ctx: Ctx, event: ProviderEvent) -> None:
        if idempotent and await ctx.uow.session.scalar(sa.select(sa.func.count()).select_from(BillingAuditEntry).where(
                BillingAuditEntry.action == "test.applied", BillingAuditEntry.reason == event.id)):
            return
        ctx.uow.session.add(BillingAuditEntry(
            team_id=team.id, actor_type="provider", action="test.applied", target_type="payment_webhook_event",
            target_id=event.row_id, reason=event.id, data={}, created_at=ctx.now()))
        await ctx.uow.session.flush()
        if before is not None:
            await before(event)

    return handle


# ---- exactly once ----------------------------------------------------------------------------------


async def test_an_event_is_applied_once_and_marked_processed(sessions, frozen, team):
    event_id = await store(sessions, frozen)
    w = worker(sessions, frozen, {"test.happened": applying(team)})
    report = await w.run_once()
    assert (report.claimed, report.processed) == (1, 1)
    r = await row(sessions, event_id)
    assert r.status == "processed" and r.attempts == 1 and r.last_error is None and r.processed_at == frozen.now()
    assert await effects(sessions) == [event_id]
    frozen.advance(hours=1)
    assert (await w.run_once()).claimed == 0  # a processed event is never taken again
    assert await effects(sessions) == [event_id]


async def test_workers_racing_apply_each_event_once(sessions, frozen, team):
    ids = [await store(sessions, frozen) for _ in range(24)]

    async def slow(_event: ProviderEvent) -> None:
        await asyncio.sleep(0.005)  # let the workers' passes interleave

    workers = [worker(sessions, frozen, {"test.happened": applying(team, before=slow)}, batch_size=4)
               for _ in range(3)]
    totals = {"claimed": 0, "processed": 0, "skipped": 0}
    while True:
        reports = await asyncio.gather(*(w.run_once() for w in workers))
        for rep in reports:
            for k in totals:
                totals[k] += getattr(rep, k)
        if all(rep.claimed == 0 for rep in reports):
            break
    assert totals == {"claimed": 24, "processed": 24, "skipped": 0}
    assert sorted(await effects(sessions)) == sorted(ids)


async def test_a_claimed_event_whose_row_another_transaction_holds_is_applied_once_it_ends(sessions, frozen, team):
    """Another worker's claim can hold a claimed row for a moment without taking it (PostgreSQL
    locks a row that changed under a FOR UPDATE scan before it re-checks the row); SQLite's other
    writer holds the database. The worker waits and applies the event: skipping it left it
    unapplied for a whole lease."""
    [event_id] = [await store(sessions, frozen)]
    w = worker(sessions, frozen, {"test.happened": applying(team)})
    [claim] = await w.claim()
    t = PaymentWebhookEvent
    async with sessions() as other, other.begin():
        await other.execute(sa.update(t).where(t.id == claim.id).values(last_error=t.last_error))  # holds the row
        applying_now = asyncio.ensure_future(w.apply(claim))
        await asyncio.sleep(0.2)
        assert not applying_now.done()  # waiting for the other transaction, not skipping
    assert await asyncio.wait_for(applying_now, 10) == "processed"
    assert await effects(sessions) == [event_id]
    assert (await row(sessions, event_id)).status == "processed"


async def test_a_crash_in_the_middle_rolls_back_and_the_retry_applies_once(sessions, frozen, team):
    event_id = await store(sessions, frozen)
    crashes = [RuntimeError("connection lost after the effect was written")]

    async def crash_once(_event: ProviderEvent) -> None:
        if crashes:
            raise crashes.pop()

    w = worker(sessions, frozen, {"test.happened": applying(team, before=crash_once)})
    assert (await w.run_once()).retried == 1
    assert await effects(sessions) == []  # the effect went with the rollback
    r = await row(sessions, event_id)
    assert r.status == "pending" and r.attempts == 1 and "RuntimeError" in (r.last_error or "")
    assert r.next_attempt_at == frozen.now() + timedelta(seconds=5)
    assert (await w.run_once()).claimed == 0  # not due before its backoff
    frozen.advance(seconds=5)
    assert (await w.run_once()).processed == 1
    assert await effects(sessions) == [event_id]
    assert (await row(sessions, event_id)).status == "processed"


async def test_a_worker_that_dies_holding_its_claim_is_taken_over_after_the_lease(sessions, frozen, team):
    event_id = await store(sessions, frozen)
    handlers = {"test.happened": applying(team)}
    dead, alive = worker(sessions, frozen, handlers), worker(sessions, frozen, handlers)
    [claim] = await dead.claim()  # ... and the process dies here
    assert (await alive.run_once()).claimed == 0  # the lease keeps everyone off meanwhile
    frozen.advance(minutes=5)
    assert (await alive.run_once()).processed == 1
    assert await dead.apply(claim) == "skipped"  # back from the dead: its claim is no longer the event's
    assert await effects(sessions) == [event_id]
    assert (await row(sessions, event_id)).attempts == 2


# ---- retries --------------------------------------------------------------------------------------


async def test_an_unknown_object_is_retried_with_backoff_then_failed(sessions, frozen):
    event_id = await store(sessions, frozen)

    async def not_yet(_ctx: Ctx, _event: ProviderEvent) -> None:
        raise NotYetKnown("subscription sub_123 is not stored yet")

    w = worker(sessions, frozen, {"test.happened": not_yet}, max_attempts=3)
    for attempt, wait in ((1, 5), (2, 10)):
        assert (await w.run_once()).retried == 1
        r = await row(sessions, event_id)
        assert (r.status, r.attempts) == ("pending", attempt)
        assert r.last_error == "not yet known: subscription sub_123 is not stored yet"
        assert r.next_attempt_at == frozen.now() + timedelta(seconds=wait)
        frozen.advance(seconds=wait)
    assert (await w.run_once()).failed == 1
    r = await row(sessions, event_id)
    assert (r.status, r.attempts) == ("failed", 3) and "not stored yet" in (r.last_error or "")
    frozen.advance(days=1)
    assert (await w.run_once()).claimed == 0


async def test_an_event_is_applied_once_its_order_arrives(sessions, frozen):
    rows, order = order_rows()
    event_id = await store(sessions, frozen, "checkout.session.completed", {
        "id": "cs_test_early", "object": "checkout.session", "metadata": {"hubwire_order_id": str(order.id)}})

    async def needs_order(_ctx: Ctx, event: ProviderEvent) -> None:
        if event.order is None:
            raise NotYetKnown(f"order {event.object['metadata']['hubwire_order_id']}")

    w = worker(sessions, frozen, {"checkout.session.completed": needs_order})
    assert (await w.run_once()).retried == 1
    assert (await row(sessions, event_id)).hub_id is None
    await add(sessions, *rows)
    frozen.advance(seconds=5)
    assert (await w.run_once()).processed == 1
    r = await row(sessions, event_id)
    assert (r.team_id, r.hub_id) == (order.team_id, order.hub_id)  # matched: the hub's staff see it


def test_backoff_doubles_and_is_capped():
    w = ProviderEventWorker(lambda: None, FrozenClock(), FactsCache(), MemoryRateLimiter(), {})  # type: ignore[arg-type,return-value]
    assert [w.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert w.backoff(30) == timedelta(hours=1)


async def test_an_unreadable_payload_fails_at_once(sessions, frozen):
    now = frozen.now()
    await add(sessions, PaymentWebhookEvent(
        id=new_id(), provider="stripe", event_id="evt_broken", type="test.happened", payload="{not json",
        status="pending", attempts=0, next_attempt_at=now, received_at=now))
    assert (await worker(sessions, frozen, {}).run_once()).failed == 1
    r = await row(sessions, "evt_broken")
    assert r.status == "failed" and (r.last_error or "").startswith("unreadable payload")


# ---- dispatch ---------------------------------------------------------------------------------------


async def test_an_event_without_a_handler_is_ignored_with_the_reason(sessions, frozen):
    event_id = await store(sessions, frozen, "customer.created")
    assert (await worker(sessions, frozen, {}).run_once()).ignored == 1
    r = await row(sessions, event_id)
    assert r.status == "ignored" and r.last_error == "customer.created: Hubwire does not act on this event"


async def test_events_are_applied_in_the_order_stripe_made_them(sessions, frozen):
    seen: list[str] = []

    async def record(_ctx: Ctx, event: ProviderEvent) -> None:
        seen.append(event.id)

    made = [await store(sessions, frozen, created=1_800_000_000 - i) for i in range(3)]  # received newest first
    await worker(sessions, frozen, {"test.happened": record}).run_once()
    assert seen == list(reversed(made))


def test_the_dispatch_table_names_every_event_checkout_will_handle():
    assert set(HANDLERS) == {
        "checkout.session.completed", "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed", "checkout.session.expired", "invoice.paid", "invoice.payment_failed",
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
        "customer.subscription.trial_will_end", "charge.refunded", "charge.dispute.created", "charge.dispute.closed",
    }


async def test_the_real_handler_gets_the_event_matched_to_its_order(sessions, frozen):
    rows, order = order_rows()
    await add(sessions, *rows)
    # Completed but unpaid (a delayed payment method): the handler stores the session's ids and waits.
    event_id = await store(sessions, frozen, "checkout.session.completed", {
        "id": "cs_test_unpaid", "object": "checkout.session", "client_reference_id": str(order.id),
        "mode": "payment", "payment_status": "unpaid", "payment_intent": "pi_test_unpaid",
        "metadata": {"hubwire_order_id": str(order.id)}})
    assert (await worker(sessions, frozen, HANDLERS).run_once()).processed == 1
    r = await row(sessions, event_id)
    assert r.status == "processed" and r.last_error is None
    assert (r.team_id, r.hub_id) == (order.team_id, order.hub_id)
    async with sessions() as s:
        stored = await s.get(type(order), order.id)
        assert stored is not None
        assert (stored.status, stored.provider_session_id, stored.provider_payment_intent_id) == (
            "pending", "cs_test_unpaid", "pi_test_unpaid")


# ---- replay, and waking up ------------------------------------------------------------------------


async def test_a_replay_applies_again_with_no_second_effect(sessions, frozen):
    hub_rows, hub_order = order_rows()  # the event's order, in a hub whose staff replay it
    await add(sessions, *hub_rows)
    event_id = await store(sessions, frozen, "test.happened", {
        "id": "obj_replay", "object": "thing", "metadata": {"hubwire_order_id": str(hub_order.id)}})
    hub_team = hub_rows[0]
    w = worker(sessions, frozen, {"test.happened": applying(hub_team, idempotent=True)})
    assert (await w.run_once()).processed == 1
    key = ApiKeyPrincipal(new_id(), hub_team.id, frozenset({"billing:write"}))
    staff = TeamContext(team=hub_team, principal=key, role=None, scopes=key.scopes)
    frozen.advance(minutes=1)
    row_id = (await row(sessions, event_id)).id
    async with UnitOfWork(sessions) as uow:
        hub = await uow.session.get(type(hub_rows[1]), hub_order.hub_id)
        replayed = await replay_provider_event(Ctx(uow, frozen, FactsCache(), MemoryRateLimiter()), staff, hub, row_id)
        assert (replayed.status, replayed.attempts, replayed.next_attempt_at) == ("pending", 0, frozen.now())
    assert (await w.run_once()).processed == 1
    assert await effects(sessions) == [event_id]  # applied twice, one effect
    async with sessions() as s:
        audit = (await s.scalars(sa.select(BillingAuditEntry).where(
            BillingAuditEntry.action == "payment_webhook.replayed"))).all()
    assert [(a.actor_type, a.actor_api_key_id, a.data["previous_status"], a.data["event_id"]) for a in audit] == [
        ("api_key", key.key_id, "processed", event_id)]


async def test_a_stored_event_wakes_a_running_worker(sessions, frozen, team):
    broker = InProcessBroker()
    await broker.start()
    w = worker(sessions, frozen, {"test.happened": applying(team)}, broker=broker, poll_interval=60)
    await w.start()
    try:
        await asyncio.sleep(0.05)  # its first pass finds nothing; the next look is a minute away
        event_id = await store(sessions, frozen, publisher=broker.publish)
        for _ in range(200):
            if await effects(sessions):
                break
            await asyncio.sleep(0.01)
        assert await effects(sessions) == [event_id]
    finally:
        await w.stop()
        await broker.stop()


async def test_hubwire_worker_once_applies_what_is_due(sessions, frozen, provider_events_url, tmp_path, redis_prefix):
    event_id = await store(sessions, frozen, "customer.created")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(tmp_path), HUBWIRE_DATABASE_URL=provider_events_url, HUBWIRE_LOG_LEVEL="WARNING")
    if REDIS_URL:
        env.update(HUBWIRE_REDIS_URL=REDIS_URL, HUBWIRE_REDIS_PREFIX=redis_prefix + "cli:")
    done = subprocess.run([*hubwire_command(), "worker", "--once"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "provider events: claimed 1: processed 0, ignored 1, retried 0, failed 0" in done.stdout, done.stdout
    assert (await row(sessions, event_id)).status == "ignored"
