"""Comments, threaded by ``parent_id``, on a discussion or on a content node (a lesson): one table,
one set of rules. A comment's ``discussion_id`` or ``content_node_id`` names its *thread*
(:class:`Thread`): a discussion is reached through its space (the evaluator's ``view``, ``post``,
``react``, ``moderate`` on the space; a locked discussion refuses members: 409
``discussion_locked``), a content node is its own access target (the same actions on
``content_node``; a node the member cannot see is 404, a locked one 403 with the evaluator's reason,
as ``H/content/{id}``). Comments are posted within the posting rate limits (a node counts as a
space), edited and deleted by their author, removed and restored by moderators (the hub's, here,
or the team's, resolving a report in ``domain.community.moderation``). A discussion keeps its
``comment_count`` (its comments neither deleted nor removed: every path that hides or shows an
existing comment goes through :func:`remove_comment`, :func:`restore_comment` or
:func:`delete_comment`, on the comment's locked row, so each change counts once) and
``last_activity_at``; every change is announced on the thread's channel (``discussion:{id}`` or
``content:{id}``) after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from domain.access import service as access_service
from domain.access.evaluator import Decision
from domain.access.facts import Subject
from domain.access.service import refuse_unless_allowed
from domain.community import reaction_counts
from domain.community.access import check_posting_rate, is_moderator, live_channels_of, require_space
from domain.community.discussions import MAX_REASON, Seen, visible_discussion
from domain.content.tree import member_node
from domain.context import Ctx
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.events import (
    CommentPublished,
    CommentRemoved,
    DiscussionActivity,
    content_channel,
    discussion_channel,
    emit,
)
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Comment, ContentNode, Discussion, Space
from persistence.pagination import Page, PageRequest, paginate

MAX_BODY = 10_000


class CommentFields(Protocol):
    """What a comment is read for in a document: a Comment, or a row of its columns (a page reads
    rows, not ORM objects, as a feed does)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def hub_id(self) -> uuid.UUID: ...
    @property
    def discussion_id(self) -> uuid.UUID | None: ...
    @property
    def content_node_id(self) -> uuid.UUID | None: ...
    @property
    def parent_id(self) -> uuid.UUID | None: ...
    @property
    def author_contact_id(self) -> uuid.UUID: ...
    @property
    def body(self) -> str: ...
    @property
    def edited_at(self) -> datetime | None: ...
    @property
    def removed_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True)
class Thread:
    """What comments hang on, as one member sees it now: a discussion (``seen``, reached through its
    space) or a content node. ``decision`` is the evaluator's ``view``; ``moderator`` whether it
    came from the member's hub role."""

    kind: str  # "discussion" | "content_node"
    id: uuid.UUID
    decision: Decision
    seen: Seen | None = None  # a discussion's

    @property
    def moderator(self) -> bool:
        return self.seen.moderator if self.seen is not None else is_moderator(self.decision)

    @property
    def channel(self) -> str:
        return discussion_channel(self.id) if self.kind == "discussion" else content_channel(self.id)

    @property
    def access_target(self) -> tuple[str, uuid.UUID]:
        """The evaluator's target for posting, reacting and moderating here."""
        return ("space", self.seen.space.id) if self.seen is not None else ("content_node", self.id)

    async def require(self, ctx: Ctx, member: MemberPrincipal, action: str) -> Decision:
        """The evaluator's ``action`` here, refused unless allowed."""
        if self.seen is not None:
            return await require_space(ctx.uow, ctx.access, member, action, self.seen.space.id, ctx.now())
        decision = await access_service.check(ctx, Subject.member(member.contact_id), action, "content_node",
                                              self.id, member.hub_id)
        refuse_unless_allowed(decision)
        return decision


@dataclass(frozen=True)
class SeenComment:
    comment: Comment
    parent: Thread  # its discussion or content node, as the member sees it


async def discussion_thread(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None, *,
                            lock: bool = False) -> Thread:
    seen = await visible_discussion(ctx.uow, ctx.access, member, discussion_id, ctx.now(), lock=lock)
    return Thread("discussion", seen.discussion.id, seen.decision, seen)


async def node_thread(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID | None) -> Thread:
    """A content node's comments as ``member`` may see them: 404 for a node they cannot see (a
    draft, under a draft, deleted, another hub's), 403 with the evaluator's reason when locked."""
    entry = await member_node(ctx, member, node_id)
    decision = await access_service.check(ctx, Subject.member(member.contact_id), "view", "content_node",
                                          entry.node.id, member.hub_id)
    refuse_unless_allowed(decision)
    return Thread("content_node", entry.node.id, decision)


async def list_comments(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None,
                        page: PageRequest) -> Page[CommentFields]:
    """A discussion's live comments, oldest first (threads are rebuilt from ``parent_id``): rows
    of the comment's columns."""
    thread = await discussion_thread(ctx, member, discussion_id)
    return await _page(ctx, member, thread, page)


async def list_node_comments(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID | None,
                             page: PageRequest) -> Page[CommentFields]:
    """A content node's live comments, oldest first (:func:`node_thread` decides who sees them):
    rows of the comment's columns."""
    return await _page(ctx, member, await node_thread(ctx, member, node_id), page)


_PAGE_REACTIONS = reaction_counts.page_reactions("comment", Comment.__table__.c.id)


async def _page(ctx: Ctx, member: MemberPrincipal, thread: Thread, page: PageRequest) -> Page[CommentFields]:
    """Rows, not ``Comment`` objects (a page changes none of them); on PostgreSQL each brings its
    reactions as the member sees them (``reaction_counts``)."""
    column = Comment.discussion_id if thread.kind == "discussion" else Comment.content_node_id
    stmt = sa.select(*Comment.__table__.c).where(column == thread.id, Comment.deleted_at.is_(None),
                                                Comment.removed_at.is_(None))
    stmt = reaction_counts.with_page_reactions(stmt, ctx.uow.session, _PAGE_REACTIONS, member)
    return await paginate(ctx.uow.session, stmt, Comment.id, page, scalars=False)


async def get_comment(ctx: Ctx, member: MemberPrincipal, comment_id: uuid.UUID | None) -> SeenComment:
    """The comment as the member may see it now (:func:`visible_comment`)."""
    return await visible_comment(ctx, member, comment_id)


async def visible_comment(ctx: Ctx, member: MemberPrincipal, comment_id: uuid.UUID | None, *,
                          lock: bool = False) -> SeenComment:
    """A comment the member may see now: in a thread they may see; a removed one only by its author
    and the moderators. With ``lock`` (writers), the comment's row is locked until commit and read
    afresh: two changes at once (a replayed request, the author and a moderator) apply one after
    the other, the second seeing the first."""
    stmt = sa.select(Comment).where(Comment.id == comment_id, Comment.hub_id == member.hub_id,
                                    Comment.deleted_at.is_(None))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    c = await ctx.uow.session.scalar(stmt) if comment_id else None
    if c is None:
        raise NotFound("Comment not found.")
    if c.discussion_id is not None:
        thread = await discussion_thread(ctx, member, c.discussion_id)
    else:
        thread = await node_thread(ctx, member, c.content_node_id)  # locked: 403 with the reason
    if c.removed_at is not None and not (c.author_contact_id == member.contact_id or thread.moderator):
        raise NotFound("Comment not found.")
    return SeenComment(c, thread)


async def post_comment(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None, body: Any,
                       parent_id: Any) -> Comment:
    """Comment on a published, live discussion the member may see (``parent_id``: a comment of the
    same discussion). 409 ``discussion_locked`` when it is locked, unless a moderator comments."""
    uow, now = ctx.uow, ctx.now()
    # The discussion's row is locked first (its comment_count is updated below anyway), so that a
    # removal or deletion that commits while this waits is seen: no comment lands on it.
    thread = await discussion_thread(ctx, member, discussion_id, lock=True)
    assert thread.seen is not None
    d = thread.seen.discussion
    if d.status != "published" or d.removed_at is not None:
        raise Conflict("Comments open once the discussion is published.", code="discussion_not_published")
    if d.is_locked and not thread.moderator:
        raise Conflict("This discussion is locked: no new comments.", code="discussion_locked")
    text = _body(body)
    parent = await _parent(uow, thread, parent_id)
    await check_posting_rate(uow, ctx.limiter, member, d.space_id, thread.decision)
    c = Comment(hub_id=d.hub_id, discussion_id=d.id, parent_id=parent, author_contact_id=member.contact_id,
                body=text, created_at=now, updated_at=now)
    uow.session.add(c)
    await uow.session.flush()
    await _count(uow, d.id, +1, now, activity=True)
    emit(uow, thread.channel, "comment.created", comment_data(c), now)
    return c


async def post_node_comment(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID | None, body: Any,
                            parent_id: Any) -> Comment:
    """Comment on a content node the member may see and read (:func:`node_thread`) and may ``post``
    on (``parent_id``: a comment of the same node)."""
    uow, now = ctx.uow, ctx.now()
    thread = await node_thread(ctx, member, node_id)
    # the node's row locked, so that a deletion that commits while this waits is seen
    live = await uow.session.scalar(sa.select(ContentNode.id).where(
        ContentNode.id == thread.id, ContentNode.deleted_at.is_(None)).with_for_update()
        .execution_options(populate_existing=True))
    if live is None:
        raise NotFound("No content of this hub has this id.")
    decision = await thread.require(ctx, member, "post")
    text = _body(body)
    parent = await _parent(uow, thread, parent_id)
    await check_posting_rate(uow, ctx.limiter, member, thread.id, decision)
    c = Comment(hub_id=member.hub_id, content_node_id=thread.id, parent_id=parent,
                author_contact_id=member.contact_id, body=text, created_at=now, updated_at=now)
    uow.session.add(c)
    await uow.session.flush()
    emit(uow, thread.channel, "comment.created", comment_data(c), now)
    return c


async def edit_comment(ctx: Ctx, member: MemberPrincipal, comment_id: uuid.UUID | None, body: Any) -> Comment:
    """The author edits the body (403 ``not_author`` for anyone else)."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_comment(ctx, member, comment_id, lock=True)
    c = seen.comment
    _author_only(c, member)
    if c.removed_at is not None:
        raise Conflict("A removed comment cannot be edited.", code="comment_removed")
    c.body = _body(body)
    c.edited_at = c.updated_at = now
    await uow.session.flush()
    emit(uow, seen.parent.channel, "comment.updated", comment_data(c), now)
    return c


async def delete_comment(ctx: Ctx, member: MemberPrincipal, comment_id: uuid.UUID | None) -> None:
    """The author deletes the comment (403 ``not_author`` for anyone else); it disappears live
    (a comment a moderator removed is no longer counted or shown: it just goes)."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_comment(ctx, member, comment_id, lock=True)
    c = seen.comment
    _author_only(c, member)
    showing = c.removed_at is None
    c.deleted_at = c.updated_at = now
    await uow.session.flush()
    if showing:
        if c.discussion_id is not None:
            await _count(uow, c.discussion_id, -1, now)
        _removed(uow, c, "author", now)


async def moderate_comment(ctx: Ctx, member: MemberPrincipal, comment_id: uuid.UUID | None, action: str, *,
                           reason: str | None = None) -> Comment:
    """A hub moderator removes or restores a comment. Idempotent: repeating an action changes
    nothing and announces nothing."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_comment(ctx, member, comment_id, lock=True)
    await seen.parent.require(ctx, member, "moderate")
    c = seen.comment
    if action == "remove":
        if reason is not None and len(reason) > MAX_REASON:
            raise ValidationFailed(f"The reason is at most {MAX_REASON} characters.", code="too_long",
                                   field="reason")
        await remove_comment(uow, c, "moderator", reason, now)
    elif action == "restore":
        await restore_comment(uow, c, now)
    return c


async def remove_comment(uow: UnitOfWork, c: Comment, by: str, reason: str | None, now: datetime) -> bool:
    """Take a showing comment down: it leaves its discussion's comments and ``comment_count``, and
    ``comment.removed`` goes out after commit. True when it did; a comment already removed or
    deleted stays as it is (False: no count change, no event). The caller holds the comment's row
    lock (``SELECT ... FOR UPDATE``, read afresh), so that concurrent removals count once."""
    if c.removed_at is not None or c.deleted_at is not None:
        return False
    c.removed_at, c.removal_reason, c.updated_at = now, reason, now
    await uow.session.flush()
    if c.discussion_id is not None:
        await _count(uow, c.discussion_id, -1, now)
    _removed(uow, c, by, now)
    return True


async def restore_comment(uow: UnitOfWork, c: Comment, now: datetime) -> bool:
    """Bring a removed comment back (not one its author deleted): it counts again and
    ``comment.updated`` goes out after commit. True when it did; False, changing nothing, when it
    was not removed. The caller holds the comment's row lock, as for :func:`remove_comment`."""
    if c.removed_at is None or c.deleted_at is not None:
        return False
    c.removed_at, c.removal_reason, c.updated_at = None, None, now
    await uow.session.flush()
    if c.discussion_id is not None:
        await _count(uow, c.discussion_id, +1, now)
    emit(uow, channel_of(c), "comment.updated", comment_data(c), now)
    return True


def channel_of(c: Comment) -> str:
    """The channel a comment's changes go to: its discussion's or its content node's."""
    return discussion_channel(c.discussion_id) if c.discussion_id is not None else content_channel(c.content_node_id)


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


def comment_data(c: Comment) -> CommentPublished:
    return CommentPublished(id=str(c.id), hub_id=str(c.hub_id), discussion_id=_s(c.discussion_id),
                            content_node_id=_s(c.content_node_id), parent_id=_s(c.parent_id),
                            author_contact_id=str(c.author_contact_id), body=c.body, edited_at=c.edited_at,
                            created_at=c.created_at)


def _removed(uow: UnitOfWork, c: Comment, by: str, at: Any) -> None:
    emit(uow, channel_of(c), "comment.removed",
         CommentRemoved(id=str(c.id), hub_id=str(c.hub_id), discussion_id=_s(c.discussion_id),
                        content_node_id=_s(c.content_node_id), removed_by=by), at)


async def _count(uow: UnitOfWork, discussion_id: uuid.UUID, delta: int, now: datetime, *,
                 activity: bool = False) -> None:
    """Adjust the discussion's comment count in SQL (concurrent comments do not lose updates) and,
    for a new comment, bump its last activity. A copy of the discussion loaded in this session is
    refreshed, so that anything built from it later (an event, a document) shows the new count.
    While the discussion is shown, ``discussion.activity`` carries the new count to the channels
    its feed is on (after commit), so counters update live."""
    values: dict[str, Any] = {"comment_count": Discussion.comment_count + delta}
    if activity:
        values["last_activity_at"] = now
    row = (await uow.session.execute(
        sa.update(Discussion).where(Discussion.id == discussion_id).values(**values)
        .returning(Discussion.hub_id, Discussion.space_id, Discussion.comment_count, Discussion.last_activity_at,
                   Discussion.status, Discussion.removed_at, Discussion.deleted_at)
        .execution_options(synchronize_session=False))).one()
    loaded = uow.session.identity_map.get(uow.session.identity_key(Discussion, discussion_id))
    if loaded is not None:
        await uow.session.refresh(loaded, ["comment_count", "last_activity_at"])
    if row.status != "published" or row.removed_at is not None or row.deleted_at is not None:
        return  # not in any feed: nothing to update live
    space = await uow.session.get_one(Space, row.space_id)  # mostly loaded already: no query
    data = DiscussionActivity(id=str(discussion_id), hub_id=str(row.hub_id), space_id=str(row.space_id),
                              comment_count=row.comment_count, last_activity_at=row.last_activity_at)
    for channel in await live_channels_of(uow, space):
        emit(uow, channel, "discussion.activity", data, now)


async def _parent(uow: UnitOfWork, thread: Thread, parent_id: Any) -> uuid.UUID | None:
    if parent_id is None:
        return None
    try:
        pid = uuid.UUID(str(parent_id))
    except ValueError:
        pid = None
    found = pid and await uow.session.scalar(sa.select(Comment.id).where(
        Comment.id == pid, Comment.deleted_at.is_(None),
        (Comment.discussion_id if thread.kind == "discussion" else Comment.content_node_id) == thread.id))
    if not found:
        raise ValidationFailed("parent_id is not a comment of this thread.", code="invalid_parent",
                               field="parent_id")
    return pid


def _author_only(c: Comment, member: MemberPrincipal) -> None:
    if c.author_contact_id != member.contact_id:
        raise Forbidden("Only the author can do this.", code="not_author")


def _body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_BODY:
        raise ValidationFailed(f"A comment is 1 to {MAX_BODY} characters.", code="invalid_body",
                               field="body")
    return value
