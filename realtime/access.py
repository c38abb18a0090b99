"""Who may subscribe to which channel, asked of the domain; and the re-check when access changes.

A member socket: first the rules that need no database (``realtime.channels.member_static_rule``),
then the access evaluator's ``view`` on the channel's target (``member_access_target``). A staff
socket (``dashboard:read`` was checked when it was authenticated): its team's channel and the hub
channels of its team's hubs. After a ban or an access change the gateway calls ``recheck``: banned
members' sockets close with 4403, members who left lose every channel, and every other channel is
asked again — on every instance, within a second (docs/realtime.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from domain.access import service as access_service
from domain.access.facts import Subject
from domain.community.discussions import channel_space
from domain.community.messages import can_read_conversation
from domain.content.tree import is_shown
from domain.context import Ctx
from domain.errors import NotFound
from domain.events.channels import Channel, parse_channel
from domain.hubs.memberships import membership_statuses
from domain.hubs.service import team_of_hub
from realtime import protocol as p
from realtime.broker import is_outage
from realtime.channels import FORBIDDEN, NOT_FOUND, Refusal, member_static_rule
from realtime.connection import Connection
from realtime.gateway import Gateway

log = logging.getLogger("hubwire.realtime")


async def member_access_target(ctx: Ctx, ch: Channel, hub_id: uuid.UUID,
                               contact_id: uuid.UUID) -> tuple[str, uuid.UUID] | Refusal:
    """For a channel ``member_static_rule`` answers ``"evaluate"``: the access target whose ``view``
    decides the subscription, or a refusal. ``space:{id}`` is the space itself; ``discussion:{id}``
    is the discussion's space (``not_found`` for a discussion the member could not see: missing,
    another hub's, deleted, someone else's draft); ``conversation:{id}`` is the hub itself, for a
    participant of that conversation only (``not_found`` for anyone else); ``content:{id}`` is the
    content node itself (``not_found`` for a node not on the member's tree: missing, another hub's,
    deleted, a draft or under one; a locked one is refused with the evaluator's reason)."""
    if ch.kind == "space":
        return "space", ch.id
    if ch.kind == "discussion":
        space_id = await channel_space(ctx, hub_id, contact_id, ch.id)
        return NOT_FOUND if space_id is None else ("space", space_id)
    if ch.kind == "content":
        return ("content_node", ch.id) if await is_shown(ctx, hub_id, ch.id) else NOT_FOUND
    if ch.kind == "conversation":
        ok = await can_read_conversation(ctx, contact_id, ch.id, hub_id=hub_id)
        return ("hub", hub_id) if ok else NOT_FOUND
    return FORBIDDEN


class ChannelAccess:
    """The gateway's ``authorize`` and ``recheck``, answered from the database and the access
    evaluator: ``contexts`` opens a unit of work with the use cases' collaborators (one per check;
    ``Services.context``)."""

    def __init__(self, contexts: Callable[[], AbstractAsyncContextManager[Ctx]]) -> None:
        self._contexts = contexts

    async def authorize(self, conn: Connection, ch: Channel) -> Refusal | None:
        """None when ``conn`` may subscribe to ``ch``, else why not."""
        if conn.kind == "member":
            assert conn.hub_id is not None and conn.contact_id is not None
            rule = member_static_rule(ch, conn.hub_id, conn.contact_id)
            if rule is None and ch.kind == "hub":
                return await self._evaluate(conn, "hub", ch.id)
            if isinstance(rule, str):  # "evaluate": spaces, discussions (through their space), content, conversations
                return await self._evaluate(conn, ch.kind, ch.id, channel=ch)
            return rule
        # staff and API keys (dashboard:read checked when the socket was authenticated)
        if ch.kind == "team":
            return None if ch.id == conn.team_id else NOT_FOUND
        if ch.kind == "hub":
            async with self._contexts() as ctx:
                team_id = await team_of_hub(ctx, ch.id)
            return None if team_id is not None and team_id == conn.team_id else NOT_FOUND
        return FORBIDDEN

    async def _evaluate(self, conn: Connection, target_type: str, target_id: uuid.UUID,
                        channel: Channel | None = None) -> Refusal | None:
        """The access evaluator's ``view`` on the target (or, given ``channel``, on the target that
        channel maps to: see ``member_access_target``), as a refusal (None = allowed)."""
        assert conn.contact_id is not None and conn.hub_id is not None
        async with self._contexts() as ctx:
            if channel is not None:
                resolved = await member_access_target(ctx, channel, conn.hub_id, conn.contact_id)
                if isinstance(resolved, Refusal):
                    return resolved
                target_type, target_id = resolved
            try:
                decision = await access_service.check(ctx, Subject.member(conn.contact_id), "view", target_type,
                                                      target_id, conn.hub_id)
            except NotFound:
                return NOT_FOUND
        if decision.allowed:
            return None
        if getattr(decision, "hidden", False):
            return NOT_FOUND
        return Refusal(decision.reason or "forbidden", "You may not subscribe to this channel.")

    async def recheck(self, gateway: Gateway, conns: list[Connection]) -> None:
        """After a ban or an access change: close banned members' sockets (4403), unsubscribe members
        who left from everything, and re-ask the evaluator for each remaining channel."""
        by_hub: dict[uuid.UUID, list[Connection]] = {}
        for c in conns:
            if c.hub_id is not None and c.closing is None:
                by_hub.setdefault(c.hub_id, []).append(c)
        for hub_id, group in by_hub.items():
            contacts = {c.contact_id for c in group if c.contact_id is not None}
            async with self._contexts() as ctx:
                status = await membership_statuses(ctx, hub_id, contacts)
            banned = [c for c in group if c.contact_id is not None and status.get(c.contact_id) == "banned"]
            if banned:  # the member.banned event first, whichever node it is on: every socket at once
                await asyncio.gather(*(gateway.catch_up(c) for c in banned))
            for c in group:
                st = status.get(c.contact_id) if c.contact_id is not None else None
                if st == "banned":
                    c.close(p.CLOSE_FORBIDDEN, "banned", p.error("banned", "You are banned from this hub."),
                            p.encode(p.Closing(code=p.CLOSE_FORBIDDEN, reason="banned")))
                elif st == "erased":  # their data was erased: the socket goes, and their presence with it
                    c.close(p.CLOSE_FORBIDDEN, "erased", p.error("erased", "This membership no longer exists."),
                            p.encode(p.Closing(code=p.CLOSE_FORBIDDEN, reason="erased")))
                elif st is None or st == "left":
                    c.revoked = True
                    await gateway.revoke(c, list(c.channels) + list(c.buffers), "access_revoked",
                                         "You are no longer a member of this hub.")
                else:
                    for name in list(c.channels):
                        ch = parse_channel(name)
                        if ch is None or ch.kind == "contact":
                            continue
                        try:
                            refusal = await self.authorize(c, ch)
                        except Exception as exc:
                            log.warning("re-check failed for %s on %s (%s: %s)", c.id, name,
                                        type(exc).__name__, exc, exc_info=not is_outage(exc))
                            continue
                        if refusal is not None:
                            await gateway.revoke(c, [name], "access_revoked", f"Access lost ({refusal.code}).")
