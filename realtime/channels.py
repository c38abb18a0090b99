"""Channels as the gateway sees them: which it serves, and the subscription rules that need no database.

Names are built and parsed by ``domain.events.channels`` (``hub:{id}``, ``space:{id}``,
``discussion:{id}``, ``content:{id}``, ``conversation:{id}``, ``contact:{id}``, ``team:{id}``). A refusal is
``forbidden``, or ``not_found`` where a "forbidden" would reveal that another hub or team exists;
the rules that ask the database and the access evaluator are in ``realtime.access``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.events.channels import KINDS, Channel
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

# Whether a socket may subscribe to a channel: None, or why not (``realtime.access.ChannelAccess``).
Authorizer = Callable[[Connection, Channel], Awaitable[Refusal | None]]


def member_static_rule(ch: Channel, hub_id: uuid.UUID, contact_id: uuid.UUID) -> Refusal | None | str:
    """The channel rules for a member socket that need no database: None = allowed, a Refusal, or
    ``"evaluate"`` when the access evaluator must answer (spaces, discussions, content nodes,
    conversations)."""
    if ch.kind == "hub":
        return None if ch.id == hub_id else NOT_FOUND
    if ch.kind == "contact":
        return None if ch.id == contact_id else FORBIDDEN
    if ch.kind == "team":
        return FORBIDDEN
    return "evaluate"
