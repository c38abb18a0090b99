"""Webhook answers: the receipt a provider gets (plain JSON), and the events received as staff see them
(type ``payment_webhook_events``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import msgspec

from persistence.models import PaymentWebhookEvent
from server.jsonapi import Document, ListDocument, Resource


class WebhookReceipt(msgspec.Struct):
    """What the provider gets back once the event is stored (or was already): ``{"received": true}``."""

    received: bool


class PaymentWebhookEventAttributes(msgspec.Struct):
    """An event as received. ``payload`` is the body exactly as the provider sent it, decoded.
    ``last_error`` is why the last attempt did not apply it, or why it was ignored."""

    provider: str
    event_id: str
    type: str
    object_id: str | None
    event_created: datetime | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    payload: dict[str, Any]


class PaymentWebhookEventsResource(Resource):
    type: Literal["payment_webhook_events"]
    attributes: PaymentWebhookEventAttributes


class PaymentWebhookEventsDocument(Document):
    data: PaymentWebhookEventsResource


class PaymentWebhookEventsListDocument(ListDocument):
    data: list[PaymentWebhookEventsResource]


def _payload(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def event_resource(team_id: Any, row: PaymentWebhookEvent) -> PaymentWebhookEventsResource:
    attrs = PaymentWebhookEventAttributes(
        provider=row.provider, event_id=row.event_id, type=row.type, object_id=row.object_id,
        event_created=row.event_created, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error, received_at=row.received_at,
        processed_at=row.processed_at, payload=_payload(row.payload),
    )
    return PaymentWebhookEventsResource.of(
        row.id, attrs, self_link=f"/api/v1/teams/{team_id}/hubs/{row.hub_id}/payment-webhooks/{row.id}")
