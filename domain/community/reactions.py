"""Reactions: one row per (member, target, emoji) on a discussion or a comment. ``PUT`` and
``DELETE`` are idempotent and announce only a real change (``reaction.added`` /
``reaction.removed`` on ``discussion:{id}``, or ``content:{id}`` for a comment on a content node).
Documents carry ``[{emoji, count, reacted}]`` (``domain.community.reaction_counts``)."""

from __future__ import annotations

import re
import unicodedata
import uuid

import sqlalchemy as sa

from domain.community.access import require_space
from domain.community.comments import visible_comment
from domain.community.discussions import visible_discussion
from domain.context import Ctx
from domain.errors import Conflict, ValidationFailed
from domain.events import ReactionChanged, discussion_channel, emit
from domain.identity.members import MemberPrincipal
from persistence.models import Reaction

MAX_EMOJI_BYTES = 64
_SHORTCODE = re.compile(r"^:[a-z0-9_+\-]{1,62}:$")


def check_emoji(raw: str) -> str:
    """An emoji (a short Unicode sequence with at least one pictographic symbol, NFC) or a
    ``:shortcode:``; at most 64 bytes. 422 ``invalid_emoji`` otherwise."""
    emoji = unicodedata.normalize("NFC", raw or "")
    ok = 0 < len(emoji.encode()) <= MAX_EMOJI_BYTES and (
        bool(_SHORTCODE.match(emoji))
        or (not emoji.isascii()
            and not any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Zs", "Co", "Cn")
                        for ch in emoji)
            and any(unicodedata.category(ch) in ("So", "Me") for ch in emoji)))
    if not ok:
        raise ValidationFailed("An emoji is a short Unicode emoji or a :shortcode:, at most 64 bytes.",
                               code="invalid_emoji", parameter="emoji")
    return emoji


async def react(ctx: Ctx, member: MemberPrincipal, target_type: str, target_id: uuid.UUID | None, raw_emoji: str,
                on: bool) -> uuid.UUID:
    """Add (``on``) or take back the member's reaction; the target's id. The member must be
    allowed to ``react`` in the space; removed content takes no reactions (409)."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    emoji = check_emoji(raw_emoji)
    if target_type == "discussion":
        seen = await visible_discussion(uow, cache, member, target_id, now)
        d = seen.discussion
        if d.status != "published" or d.removed_at is not None:
            raise Conflict("This discussion takes no reactions.", code="not_reactable")
        tid = d.id
        await require_space(uow, cache, member, "react", seen.space.id, now)
        channel, discussion_id, node_id = discussion_channel(d.id), d.id, None
    else:
        sc = await visible_comment(ctx, member, target_id)
        if sc.comment.removed_at is not None:
            raise Conflict("This comment takes no reactions.", code="not_reactable")
        tid = sc.comment.id
        await sc.parent.require(ctx, member, "react")
        channel, discussion_id, node_id = sc.parent.channel, sc.comment.discussion_id, sc.comment.content_node_id
    where = (Reaction.target_type == target_type, Reaction.target_id == tid, Reaction.contact_id == member.contact_id,
             Reaction.emoji == emoji)
    existing = await uow.session.scalar(sa.select(Reaction.id).where(*where))
    changed = False
    if on and existing is None:
        try:
            async with uow.session.begin_nested():  # a concurrent identical PUT: still one row
                uow.session.add(Reaction(hub_id=member.hub_id, target_type=target_type, target_id=tid,
                                         contact_id=member.contact_id, emoji=emoji, created_at=now))
                await uow.session.flush()
            changed = True
        except sa.exc.IntegrityError:
            changed = False
    elif not on and existing is not None:
        result = await uow.session.execute(sa.delete(Reaction).where(Reaction.id == existing))
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        count = await uow.session.scalar(sa.select(sa.func.count()).select_from(Reaction).where(
            Reaction.target_type == target_type, Reaction.target_id == tid, Reaction.emoji == emoji)) or 0
        emit(uow, channel, "reaction.added" if on else "reaction.removed",
             ReactionChanged(hub_id=str(member.hub_id), discussion_id=_s(discussion_id),
                             content_node_id=_s(node_id), target_type=target_type,
                             target_id=str(tid), emoji=emoji, contact_id=str(member.contact_id), count=int(count)),
             now)
    return tid


def _s(value: object) -> str | None:
    return str(value) if value is not None else None
