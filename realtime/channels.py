"""Channels as the gateway sees them: which it serves, and the subscription rules that need no database.

Names are built and parsed by ``domain.events.channels`` (``hub:{id}``, ``space:{id}``,
``discussion:{id}``, ``conversation:{id}``, ``contact:{id}``, ``team:{id}``). A refusal is
``forbidden``, or ``not_found`` where a "forbidden" would reveal that another hub or team exists;
``member_access_target`` maps the other channels to what the access evaluator is asked about.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from domain.events.channels import KINDS, Channel, parse_channel  # noqa: F401  (parse_channel: for server/)
from realtime.connection import Connection

TYPING_KINDS = frozenset({"discussion", "conversation"})


def is_realtime_channel(name: str) -> bool:
    """True for the channels the gateway serves (as opposed to internal ones like ``access:invalidate``)."""
    return name.split(":", 1)[0] in KINDS


@dataclass(frozen=True)
class Refusal:
    """Why a subscription is refused: the ``error`` frame's code and message."""

    code: str  # forbidden | not_found | invalid_channel | an evaluator reason
    message: str


FORBIDDEN = Refusal("forbidden", "You may not subscribe to this channel.")
NOT_FOUND = Refusal("not_found", "No such channel.")
INVALID = Refusal("invalid_channel", "Channel names look like `hub:<uuid>`, `space:<uuid>`, ...")

# Whether a socket may subscribe to a channel: None, or why not (the transport's authorizer).
Authorizer = Callable[[Connection, Channel], Awaitable[Refusal | None]]


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
