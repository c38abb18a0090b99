"""Commerce in the tests: run a commerce use case inside the test app (its loop, its database, a
unit of work that commits), and read back what it wrote."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from domain.context import Ctx
from persistence.models import (
    BillingAuditEntry,
    ContactTag,
    Entitlement,
    Order,
    Payment,
    Subscription,
    TeamContact,
)
from tests.support.app import db_rows, in_app


def in_ctx(client: Any, app: Any, clock: Any, fn: Callable[[Ctx], Awaitable[Any]]) -> Any:
    """``fn(ctx)`` in one unit of work of the app, committed when it returns."""
    async def go() -> Any:
        svc = app.state.services
        async with svc.uow() as uow:
            return await fn(Ctx(uow, clock, svc.access_cache, svc.limiter))

    return in_app(client, go)


def order_row(client: Any, app: Any, order_id: str) -> Order:
    return db_rows(client, app, sa.select(Order).where(Order.id == uuid.UUID(order_id)))[0]  # type: ignore[no-any-return]


def payments_of(client: Any, app: Any, order_id: str) -> list[Payment]:
    return db_rows(client, app, sa.select(Payment).where(Payment.order_id == uuid.UUID(order_id)))


def entitlements_of(client: Any, app: Any, contact_id: str) -> list[Entitlement]:
    return db_rows(client, app, sa.select(Entitlement).where(Entitlement.contact_id == uuid.UUID(contact_id))
                   .order_by(Entitlement.id))


def subscriptions_of(client: Any, app: Any, order_id: str) -> list[Subscription]:
    return db_rows(client, app, sa.select(Subscription).where(Subscription.order_id == uuid.UUID(order_id)))


def audit_of(client: Any, app: Any, target_id: str) -> list[BillingAuditEntry]:
    return db_rows(client, app, sa.select(BillingAuditEntry).where(BillingAuditEntry.target_id == uuid.UUID(target_id))
                   .order_by(BillingAuditEntry.id))


def tag_ids_of(client: Any, app: Any, team_id: str, contact_id: str) -> set[str]:
    rows = db_rows(client, app, sa.select(ContactTag.tag_id).join(TeamContact, TeamContact.id == ContactTag.team_contact_id)
                   .where(TeamContact.team_id == uuid.UUID(team_id), TeamContact.contact_id == uuid.UUID(contact_id)))
    return {str(t) for t in rows}


def order_events(feed: Any, expected: int, kinds: tuple[str, ...] = ("order.",)) -> list[dict[str, Any]]:
    """The ``order.*`` events (or those starting with one of ``kinds``) on a Listener's channel,
    read until ``expected`` of them came (an event may come a moment late: at start-up, the realtime
    outbox relays the first events), then once more, so an unexpected extra one shows too."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while True:
        events += [e for e in feed.drain() if e["event"].startswith(kinds)]
        if len(events) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    events += [e for e in feed.drain() if e["event"].startswith(kinds)]
    return events
