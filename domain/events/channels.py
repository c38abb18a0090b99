"""Channel names: built here and read back here, nowhere else.

Every live event goes to a channel named ``<kind>:<uuid>``: ``hub:{id}`` (hub-wide, presence),
``space:{id}``, ``discussion:{id}``, ``content:{id}`` (comments on a content node),
``conversation:{id}`` (direct messages), ``contact:{id}``
(personal notifications), ``team:{id}`` (staff dashboards). The domain names the channel of each
event it emits with the helpers below; the realtime gateway reads the names clients send with
``parse_channel``, so both sides agree on one spelling (docs/realtime.md lists the channels and who
may subscribe to each).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

KINDS = frozenset({"hub", "space", "discussion", "content", "conversation", "contact", "team"})
MAX_CHANNEL_LEN = 100


def channel_name(kind: str, id: Any) -> str:
    """The name of the ``kind`` channel of ``id`` (a UUID, or its canonical string)."""
    return f"{kind}:{id}"


def hub_channel(hub_id: Any) -> str:
    """Hub-wide events (announcements, activity in open spaces) and presence."""
    return channel_name("hub", hub_id)


def space_channel(space_id: Any) -> str:
    """Events of one space (its discussions)."""
    return channel_name("space", space_id)


def discussion_channel(discussion_id: Any) -> str:
    """Events of one discussion (comments, reactions) and typing."""
    return channel_name("discussion", discussion_id)


def content_channel(node_id: Any) -> str:
    """Events of one content node (the comments on a lesson and their reactions)."""
    return channel_name("content", node_id)


def conversation_channel(conversation_id: Any) -> str:
    """Direct messages of one conversation, for its participants, and typing."""
    return channel_name("conversation", conversation_id)


def contact_channel(contact_id: Any) -> str:
    """A contact's personal notifications (and their bans, which the gateway watches)."""
    return channel_name("contact", contact_id)


def team_channel(team_id: Any) -> str:
    """A team's dashboard events (orders, signups, moderation queue): staff only."""
    return channel_name("team", team_id)


@dataclass(frozen=True)
class Channel:
    """A channel name read back into its kind and id."""

    kind: str
    id: uuid.UUID

    @property
    def name(self) -> str:
        """The canonical name (the id as ``str(UUID)``), whatever spelling was parsed."""
        return channel_name(self.kind, self.id)


def parse_channel(name: str) -> Channel | None:
    """The channel named ``name``, or None when it is not a valid name."""
    if len(name) > MAX_CHANNEL_LEN:
        return None
    kind, sep, raw = name.partition(":")
    if not sep or kind not in KINDS:
        return None
    try:
        return Channel(kind, uuid.UUID(raw))
    except ValueError:
        return None
