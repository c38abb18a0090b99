"""Payment-provider events as received: each one stored once, then applied by the worker
(``provider_event_worker.py``), shown to staff and replayed by them.

Receiving (:func:`record_provider_event`, called by ``POST /api/v1/webhooks/stripe`` once the
signature is verified) inserts the raw body under its unique ``(provider, event_id)`` and does
nothing else. The insert is ``INSERT ... ON CONFLICT DO NOTHING``, so a second delivery, even one
arriving at another instance at the same moment, changes nothing and raises nothing. Once the row
commits, the workers of every instance are woken (``WAKE_CHANNEL``).

Statuses: ``pending`` (due at ``next_attempt_at``) → ``processed``; or ``ignored`` (nothing to do;
``last_error`` says why); or ``failed`` after the last attempt. A replay puts an event back to
``pending``. The handlers are idempotent, so replaying an event that was already applied has no
second effect.

Types handlers work with: :class:`ProviderEvent` (the parsed event, with the order it was matched
to), :class:`Ignored` (what a handler returns when the event asks nothing of us) and
:class:`NotYetKnown` (what it raises when the event names something we don't have yet; the worker
retries later).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.context import Ctx
from domain.errors import NotFound
from domain.filters import filter_choice
from domain.identity.principals import ApiKeyPrincipal, StaffPrincipal
from domain.teams.service import TeamContext
from persistence.ids import new_id
from persistence.models import BillingAuditEntry, Hub, Order, PaymentWebhookEvent
from persistence.pagination import Page, PageRequest, paginate

# Wakes the provider-event workers of every instance (through the broker, after commit). Internal:
# the realtime gateways never let a client subscribe to it.
WAKE_CHANNEL = "internal:provider_events"
STATUSES = ("pending", "processed", "ignored", "failed")


@dataclass(frozen=True)
class ReceivedEvent:
    """A verified event, as the edge hands it over: ``payload`` is the raw body, as received."""

    provider: str
    event_id: str
    type: str
    object_id: str | None
    created: datetime | None
    payload: str


@dataclass
class ProviderEvent:
    """An event being applied: the row's id, the event's own fields, its ``data.object`` (and
    ``data.previous_attributes``), and ``order``, the order the worker matched it to before
    dispatching (None when no order of ours is named, or not yet)."""

    row_id: uuid.UUID
    provider: str
    id: str
    type: str
    created: datetime | None
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None
    payload: dict[str, Any]
    order: Order | None = None


@dataclass(frozen=True)
class Ignored:
    """A handler's answer when the event asks nothing of us; ``reason`` is kept on the row."""

    reason: str


class NotYetKnown(Exception):
    """The event names an object we do not have yet (its order, subscription or payment). The
    worker rolls back what the handler did and tries again later, with backoff."""


Handler = Callable[[Ctx, ProviderEvent], Awaitable[Ignored | None]]


async def record_provider_event(ctx: Ctx, event: ReceivedEvent) -> bool:
    """Store ``event`` once, due now. True when this call stored it; False for a copy already
    stored (the insert then does nothing, whoever stored it first and however close behind)."""
    now = ctx.now()
    values = {
        "id": new_id(), "provider": event.provider, "event_id": event.event_id, "type": event.type,
        "object_id": event.object_id, "event_created": event.created, "payload": event.payload,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "received_at": now,
    }
    s = ctx.uow.session
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PaymentWebhookEvent)
    stmt = (insert.values(**values)
            .on_conflict_do_nothing(index_elements=[PaymentWebhookEvent.provider, PaymentWebhookEvent.event_id])
            .returning(PaymentWebhookEvent.id))
    stored = (await s.execute(stmt)).scalar_one_or_none() is not None
    if stored:
        ctx.uow.publish(WAKE_CHANNEL, b"wake")
    return stored


def parse_event(row: PaymentWebhookEvent) -> ProviderEvent:
    """The row's payload as a :class:`ProviderEvent` (ValueError when it is not an event object)."""
    payload = json.loads(row.payload)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise ValueError("the payload has no data.object")
    previous = data.get("previous_attributes")
    return ProviderEvent(row.id, row.provider, row.event_id, row.type, row.event_created, data["object"],
                         previous if isinstance(previous, dict) else None, payload)


# ---- staff: list, read, replay -------------------------------------------------------------------------


async def list_provider_events(ctx: Ctx, team: TeamContext, hub: Hub, page: PageRequest, *,
                               type: str | None = None, status: str | None = None) -> Page[PaymentWebhookEvent]:
    """The hub's provider events (those matched to one of its orders), newest first; filter by
    exact ``type`` and by ``status``."""
    t = PaymentWebhookEvent
    stmt = sa.select(t).where(t.hub_id == hub.id, t.team_id == team.team_id)
    if type is not None:
        stmt = stmt.where(t.type == type)
    if filter_choice(status, "status", STATUSES) is not None:
        stmt = stmt.where(t.status == status)
    return await paginate(ctx.uow.session, stmt, t.id, page, newest_first=True)


async def get_provider_event(ctx: Ctx, team: TeamContext, hub: Hub, event_id: uuid.UUID | None, *,
                             for_update: bool = False) -> PaymentWebhookEvent:
    """One of the hub's provider events by our id (404 for another hub's, or an unmatched one)."""
    t = PaymentWebhookEvent
    stmt = sa.select(t).where(t.id == event_id, t.hub_id == hub.id, t.team_id == team.team_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = None if event_id is None else await ctx.uow.session.scalar(stmt)
    if row is None:
        raise NotFound("No such payment webhook event in this hub.")
    return row


async def replay_provider_event(ctx: Ctx, team: TeamContext, hub: Hub,
                                event_id: uuid.UUID | None) -> PaymentWebhookEvent:
    """Apply the event again: back to ``pending``, due now, with a fresh count of attempts. The
    handlers are idempotent, so an event that was applied before changes nothing the second time.
    The replay is written to the billing audit log, and the workers are woken after commit."""
    row = await get_provider_event(ctx, team, hub, event_id, for_update=True)
    now = ctx.now()
    previous = row.status
    row.status, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, now, None
    principal = team.principal
    ctx.uow.session.add(BillingAuditEntry(
        team_id=team.team_id, hub_id=hub.id,
        actor_type="staff" if isinstance(principal, StaffPrincipal) else "api_key",
        actor_user_id=team.user_id,
        actor_api_key_id=principal.key_id if isinstance(principal, ApiKeyPrincipal) else None,
        action="payment_webhook.replayed", target_type="payment_webhook_event", target_id=row.id,
        data={"provider": row.provider, "event_id": row.event_id, "type": row.type, "previous_status": previous},
        created_at=now,
    ))
    await ctx.uow.session.flush()
    ctx.uow.publish(WAKE_CHANNEL, b"wake")
    return row
