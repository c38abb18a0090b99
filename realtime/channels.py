"""Channel names and who may subscribe to what.

``hub:{id}`` (hub-wide, presence), ``space:{id}``, ``discussion:{id}``, ``conversation:{id}``,
``contact:{id}`` (personal notifications), ``team:{id}`` (dashboards, staff only). A refusal is
``forbidden``, or ``not_found`` where a "forbidden" would reveal that another hub or team exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

KINDS = frozenset({"hub", "space", "discussion", "conversation", "contact", "team"})
TYPING_KINDS = frozenset({"discussion", "conversation"})
MAX_CHANNEL_LEN = 100


def is_realtime_channel(name: str) -> bool:
    """True for the channels the gateway serves (as opposed to internal ones like ``access:invalidate``)."""
    return name.split(":", 1)[0] in KINDS


@dataclass(frozen=True)
class Channel:
    kind: str
    id: uuid.UUID

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_channel(name: str) -> Channel | None:
    """The channel named ``name``, in canonical form, or None when it is not a valid name."""
    if len(name) > MAX_CHANNEL_LEN:
        return None
    kind, sep, raw = name.partition(":")
    if not sep or kind not in KINDS:
        return None
    try:
        return Channel(kind, uuid.UUID(raw))
    except ValueError:
        return None


@dataclass(frozen=True)
class Refusal:
    code: str  # forbidden | not_found | invalid_channel
    message: str


FORBIDDEN = Refusal("forbidden", "You may not subscribe to this channel.")
NOT_FOUND = Refusal("not_found", "No such channel.")
INVALID = Refusal("invalid_channel", "Channel names look like `hub:<uuid>`, `space:<uuid>`, ...")


def member_static_rule(ch: Channel, hub_id: uuid.UUID, contact_id: uuid.UUID) -> Refusal | None | str:
    """The channel rules for a member socket that need no database: None = allowed, a Refusal, or
    ``"evaluate"`` when the access evaluator must answer (spaces, discussions, conversations)."""
    if ch.kind == "hub":
        return None if ch.id == hub_id else NOT_FOUND
    if ch.kind == "contact":
        return None if ch.id == contact_id else FORBIDDEN
    if ch.kind == "team":
        return FORBIDDEN
    return "evaluate"


async def member_access_target(uow: Any, ch: Channel, hub_id: uuid.UUID,
                               contact_id: uuid.UUID) -> tuple[str, uuid.UUID] | Refusal:
    """For a channel ``member_static_rule`` answers ``"evaluate"``: the access target whose ``view``
    decides the subscription, or a refusal. ``space:{id}`` is the space itself; ``discussion:{id}``
    is the discussion's space (``not_found`` for a discussion the member could not see: missing,
    another hub's, deleted, someone else's draft); ``conversation:{id}`` is the hub itself, for a
    participant of that conversation only (``not_found`` for anyone else)."""
    if ch.kind == "space":
        return "space", ch.id
    if ch.kind == "discussion":
        from domain.community.discussions import channel_space

        space_id = await channel_space(uow, hub_id, contact_id, ch.id)
        return NOT_FOUND if space_id is None else ("space", space_id)
    if ch.kind == "conversation":
        from domain.community.messages import can_read_conversation

        ok = await can_read_conversation(uow, contact_id, ch.id, hub_id=hub_id)
        return ("hub", hub_id) if ok else NOT_FOUND
    return FORBIDDEN
