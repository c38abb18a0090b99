"""Domain events: one choke point that names, shapes and queues every event for after commit.

Each event name has a schema (a msgspec Struct) in ``EVENT_SCHEMAS``; ``emit`` refuses a name
without one, encodes the event once, and hands the bytes to the unit of work, which publishes them
through the broker only after the transaction commits. The realtime gateway adds per-channel
sequence numbers when it delivers them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from persistence.db import UnitOfWork


class Event(msgspec.Struct, kw_only=True):
    """What travels through the broker: the channel, the event name, its data, when it happened."""

    channel: str
    event: str
    data: dict[str, Any]
    at: datetime


class ContactSignedUp(msgspec.Struct, kw_only=True):
    team_contact_id: str
    contact_id: str
    email: str
    source: str | None
    lifecycle_stage: str
    created_at: datetime


class MemberJoined(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    membership_id: str
    role: str
    joined_at: datetime


class MemberStatusChanged(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    status: str
    reason: str | None
    expires_at: datetime | None


class MemberWarned(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    reason: str
    expires_at: datetime | None


class MemberRoleChanged(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    role: str
    previous_role: str


class AnnouncementCreated(msgspec.Struct, kw_only=True):
    id: str
    hub_id: str
    title: str
    body: str
    created_at: datetime


EVENT_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "contact.signed_up": ContactSignedUp,
    "member.joined": MemberJoined,
    "member.banned": MemberStatusChanged,
    "member.unbanned": MemberStatusChanged,
    "member.soft_banned": MemberStatusChanged,
    "member.warned": MemberWarned,
    "member.role_changed": MemberRoleChanged,
    "announcement.created": AnnouncementCreated,
}

_encoder = msgspec.json.Encoder()


def emit(uow: UnitOfWork, channel: str, name: str, data: msgspec.Struct, at: datetime) -> None:
    """Queue event ``name`` with ``data`` (an instance of its schema) on ``channel``; it is
    encoded once here and published only after ``uow`` commits."""
    schema = EVENT_SCHEMAS.get(name)
    if schema is None or type(data) is not schema:
        raise ValueError(f"event {name!r} needs a {schema.__name__ if schema else 'registered'} payload")
    payload = _encoder.encode(Event(channel=channel, event=name, data=msgspec.to_builtins(data), at=at))
    uow.publish(channel, payload)


def team_channel(team_id: Any) -> str:
    return f"team:{team_id}"


def hub_channel(hub_id: Any) -> str:
    return f"hub:{hub_id}"


def contact_channel(contact_id: Any) -> str:
    return f"contact:{contact_id}"
