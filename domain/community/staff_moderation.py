"""Team staff acting on a hub's content from the moderation console: read what a reported item
says, and remove, restore, pin or lock it, without being a member of the hub.

Hub moderators (members with that role) do the same from the member side
(``discussions.moderate_discussion``, ``comments.moderate_comment``); staff act here, through the
team's ``moderation`` scopes. Both share the same building blocks (``remove_discussion``,
``restore_comment``, ...), so a removal counts and announces once whoever makes it. Every change a
staff member makes is one ``ModerationAction`` row in the audit log and one ``moderation.action``
event on the team channel; repeating an action changes, records and announces nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from domain.community import comments, discussions
from domain.context import Ctx
from domain.errors import NotFound, ValidationFailed
from domain.events import ModerationActionTaken, emit, team_channel
from domain.identity.principals import ApiKeyPrincipal
from domain.teams.service import TeamContext
from persistence.models import Comment, Discussion, Hub, Message, ModerationAction, Space
from persistence.pagination import Page, PageRequest, paginate

ITEM_TYPES = ("discussion", "comment", "message")
ACTIONS = {
    "discussion": ("remove", "restore", "pin", "unpin", "lock", "unlock"),
    "comment": ("remove", "restore"),
    "message": (),
}
MAX_REASON = 1000
_FLAGS = {"pin": ("is_pinned", True), "unpin": ("is_pinned", False),
          "lock": ("is_locked", True), "unlock": ("is_locked", False)}


@dataclass(frozen=True)
class ModerationItem:
    """What a moderator sees of a discussion, comment or direct message."""

    target_type: str
    id: uuid.UUID
    hub_id: uuid.UUID
    author_contact_id: uuid.UUID
    body: str
    created_at: datetime
    removed_at: datetime | None
    deleted_at: datetime | None
    space_id: uuid.UUID | None = None
    discussion_id: uuid.UUID | None = None  # a comment's discussion
    content_node_id: uuid.UUID | None = None  # or its content node
    conversation_id: uuid.UUID | None = None  # a message's conversation
    title: str | None = None
    status: str | None = None
    is_pinned: bool | None = None
    is_locked: bool | None = None
    comment_count: int | None = None
    removal_reason: str | None = None


def _item(row: Discussion | Comment | Message) -> ModerationItem:
    if isinstance(row, Discussion):
        return ModerationItem("discussion", row.id, row.hub_id, row.author_contact_id, row.body, row.created_at,
                              row.removed_at, row.deleted_at, space_id=row.space_id, title=row.title,
                              status=row.status, is_pinned=row.is_pinned, is_locked=row.is_locked,
                              comment_count=row.comment_count, removal_reason=row.removal_reason)
    if isinstance(row, Comment):
        return ModerationItem("comment", row.id, row.hub_id, row.author_contact_id, row.body, row.created_at,
                              row.removed_at, row.deleted_at, discussion_id=row.discussion_id,
                              content_node_id=row.content_node_id, removal_reason=row.removal_reason)
    return ModerationItem("message", row.id, row.hub_id, row.author_contact_id, row.body, row.created_at,
                          row.removed_at, row.deleted_at, conversation_id=row.conversation_id)


async def _row(ctx: Ctx, hub: Hub, target_type: str, target_id: uuid.UUID | None, *,
               lock: bool = False) -> Discussion | Comment | Message:
    model = {"discussion": Discussion, "comment": Comment, "message": Message}.get(target_type)
    if model is None or target_id is None:
        raise NotFound("Nothing to moderate here.")
    stmt = sa.select(model).where(model.id == target_id, model.hub_id == hub.id)
    if target_type == "discussion":  # a draft or scheduled discussion is its author's alone
        stmt = stmt.where(Discussion.status == "published")
    if lock:  # as every removal does: the row locked and read afresh (domain/community/moderation.py)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = await ctx.uow.session.scalar(stmt)
    if row is None:
        raise NotFound("Nothing to moderate here.")
    return row


async def get_item(ctx: Ctx, hub: Hub, target_type: str, target_id: uuid.UUID | None) -> ModerationItem:
    """A discussion (published), comment or message of ``hub``, removed or not (404 otherwise)."""
    return _item(await _row(ctx, hub, target_type, target_id))


async def list_discussions(ctx: Ctx, hub: Hub, page: PageRequest, *,
                           removed: bool | None = None) -> Page[ModerationItem]:
    """The hub's published discussions in every space, newest first (the ones their authors
    deleted left out); ``removed`` keeps only the removed ones (True) or the showing ones (False)."""
    stmt = sa.select(Discussion).where(Discussion.hub_id == hub.id, Discussion.status == "published",
                                       Discussion.deleted_at.is_(None))
    if removed is not None:
        stmt = stmt.where(Discussion.removed_at.is_not(None) if removed else Discussion.removed_at.is_(None))
    p = await paginate(ctx.uow.session, stmt, Discussion.id, page, newest_first=True)
    return Page([_item(d) for d in p.items], p.has_more, p.next_cursor)


async def moderate_item(ctx: Ctx, team: TeamContext, hub: Hub, target_type: str, target_id: uuid.UUID | None,
                        action: str, reason: str | None = None) -> ModerationItem:
    """Staff take ``action`` on an item of ``hub`` (``ACTIONS`` says which fit which item; another is
    422 ``invalid_action``): removed and restored items disappear and come back live, pins and
    locks are announced as ``discussion.updated``, exactly as when a hub moderator acts. A change
    is recorded in the audit log and announced as ``moderation.action``; no change, nothing."""
    if target_type in ACTIONS and action not in ACTIONS[target_type]:
        raise ValidationFailed(f"A {target_type} cannot be given `{action}` here.", code="invalid_action")
    note = reason.strip() if reason else None
    if note is not None and len(note) > MAX_REASON:
        raise ValidationFailed(f"A reason is at most {MAX_REASON} characters.", code="invalid_reason",
                               field="reason")
    row = await _row(ctx, hub, target_type, target_id, lock=True)
    now = ctx.now()
    if isinstance(row, Discussion):
        changed = await _moderate_discussion(ctx, row, action, note, now)
    else:
        assert isinstance(row, Comment)
        changed = await (comments.remove_comment(ctx.uow, row, "moderator", note, now) if action == "remove"
                         else comments.restore_comment(ctx.uow, row, now))
    if changed:
        record = ModerationAction(
            hub_id=hub.id, action=action, target_type=target_type, target_id=row.id, reason=note,
            actor_user_id=team.user_id,
            actor_api_key_id=team.principal.key_id if isinstance(team.principal, ApiKeyPrincipal) else None,
            created_at=now)
        ctx.uow.session.add(record)
        await ctx.uow.session.flush()
        emit(ctx.uow, team_channel(hub.team_id), "moderation.action", ModerationActionTaken(
            id=str(record.id), hub_id=str(hub.id), action=action, target_type=target_type, target_id=str(row.id),
            reason=note, report_id=None, actor_user_id=_s(record.actor_user_id),
            actor_api_key_id=_s(record.actor_api_key_id), created_at=now), now)
    return _item(row)


async def _moderate_discussion(ctx: Ctx, d: Discussion, action: str, note: str | None, now: datetime) -> bool:
    if action == "remove":
        return await discussions.remove_discussion(ctx.uow, d, "moderator", note, now)
    if action == "restore":
        return await discussions.restore_discussion(ctx.uow, d, now)
    flag, value = _FLAGS[action]
    if getattr(d, flag) == value:
        return False
    setattr(d, flag, value)
    d.updated_at = now
    await ctx.uow.session.flush()
    if d.removed_at is None and d.deleted_at is None:  # shown: members see the pin or lock live
        await discussions.announce(ctx.uow, d, await ctx.uow.session.get_one(Space, d.space_id),
                                   "discussion.updated", now)
    return True


def _s(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
