"""Presence and typing: signals members send each other, published through the broker, never stored.

Their frames carry a ``type`` (no seq): the fan-out sends them as they come and a socket whose
queue is half full drops them first. Presence counts a member once however many sockets they have
(``realtime.presence`` keeps it, in Redis across instances); ``joined`` / ``left`` go to
``hub:{id}`` when their first socket arrives and their last one goes. Typing goes to a discussion
or conversation the member is subscribed to, at most once per ``typing_interval``, and not at all
in channels with more than ``typing_max_subscribers`` local subscribers; senders get their own
frame too, and clients expire it on their own.
"""

from __future__ import annotations

import time
import uuid

from domain.events.channels import hub_channel, parse_channel
from realtime import protocol as p
from realtime.broker import Broker
from realtime.channels import NOT_FOUND, TYPING_KINDS, Authorizer
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.fanout import FanOut
from realtime.presence import Presence


class Signals:
    """Publishes presence changes and typing, and answers presence queries (``authorize`` decides
    which hubs a staff socket may ask about)."""

    def __init__(self, broker: Broker, presence: Presence, fanout: FanOut, config: GatewayConfig,
                 authorize: Authorizer) -> None:
        self.broker = broker
        self.presence = presence
        self.config = config
        self._fanout = fanout
        self._authorize = authorize
        self._typing: dict[tuple[str, uuid.UUID], float] = {}  # (channel, contact) -> last signal

    async def announce(self, hub_id: uuid.UUID, **change: str) -> None:
        """A ``presence`` frame on the hub's channel: ``joined=`` or ``left=`` a contact id."""
        channel = hub_channel(hub_id)
        await self.broker.publish(channel, p.encoder.encode(p.PresenceFrame(channel=channel, **change)))

    async def snapshot(self, conn: Connection, channel: str | None) -> None:
        """Answer a ``presence`` query with who is online in the hub of ``channel`` (a member: their
        own hub only; staff: a hub of their team)."""
        own = hub_channel(conn.hub_id) if conn.hub_id else None
        target = channel or own
        ch = parse_channel(target) if target else None
        if ch is None or ch.kind != "hub" or (conn.kind == "member" and ch.name != own):
            conn.enqueue(p.error(NOT_FOUND.code, "Presence is available for your hub only.", target))
            return
        if conn.kind == "staff" and await self._authorize(conn, ch) is not None:
            conn.enqueue(p.error(NOT_FOUND.code, NOT_FOUND.message, target))
            return
        online = await self.presence.online(str(ch.id))
        conn.enqueue(p.encode(p.PresenceFrame(channel=ch.name, online=online)))

    async def typing(self, conn: Connection, channel: str) -> None:
        """Publish that ``conn``'s member is typing in ``channel`` (refused unless subscribed to a
        discussion or conversation; dropped when too frequent or the channel too large)."""
        ch = parse_channel(channel)
        if ch is None or ch.kind not in TYPING_KINDS or ch.name not in conn.channels or conn.contact_id is None:
            conn.enqueue(p.error("typing_not_allowed", "Typing goes to a discussion or conversation you "
                                                       "are subscribed to.", channel))
            return
        feed = self._fanout.feeds.get(ch.name)
        if feed is not None and len(feed.subscribers) > self.config.typing_max_subscribers:
            return  # suppressed in very large channels
        key = (ch.name, conn.contact_id)
        now = time.monotonic()
        if now - self._typing.get(key, -1e9) < self.config.typing_interval:
            return  # one signal per member per interval; clients expire typing on their own
        self._typing[key] = now
        await self.broker.publish(ch.name, p.encoder.encode(p.TypingFrame(channel=ch.name,
                                                                          contact_id=str(conn.contact_id))))

    def sweep(self, now: float) -> None:
        """Forget typing signals older than ``typing_interval`` (the gateway's heartbeat)."""
        horizon = now - self.config.typing_interval
        for key in [k for k, t in self._typing.items() if t < horizon]:
            del self._typing[key]
