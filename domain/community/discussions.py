"""Discussions: started in a space, as a draft, scheduled for later, or published at once; edited
and deleted by their author; removed, restored, pinned and locked by the hub's moderators; read in
cursor-paged feeds per space and hub-wide, newest first or by activity.

Who may do what is the access evaluator's answer on the discussion's space (see
``domain.community.access``). Drafts and scheduled discussions are their author's alone and
announce nothing; a discussion is announced live (``discussion.created``) when it is published —
at once, on a later edit, or by the scheduler at ``publish_at`` — and ``discussion.removed`` makes
it disappear live for everyone when deleted or removed.

Every change to a discussion (edit, delete, remove, restore, pin, lock) reads its row locked until
commit (``SELECT ... FOR UPDATE``, read afresh: :func:`visible_discussion` with ``lock``) before
deciding, and acts only on a real change: two changes at once (a replayed request, the author and a
moderator, a hub moderator and a report resolved from the queue, which locks the row too) apply one
after the other, the second seeing the first, so a discussion is taken down, and announced, once.
The discussion's row is the first lock these take (before any queue entry: lock order in
``domain.community.moderation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from domain.access.cache import FactsCache
from domain.access.evaluator import Decision
from domain.community import reaction_counts
from domain.community.access import (
    check_posting_rate,
    is_moderator,
    live_channels_of,
    require_space,
    require_space_row,
    visible_spaces,
)
from domain.context import Ctx
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.events import DiscussionPublished, DiscussionRemoved, discussion_channel, emit
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Discussion, Space
from persistence.pagination import (
    Page,
    PageRequest,
    decode_sort_cursor,
    encode_sort_cursor,
    page_of,
    rows_after,
)

STATUSES = ("draft", "scheduled", "published")
# Published after the commit that schedules or reschedules a discussion: wakes the scheduler of
# every instance (domain/community/scheduler.py), which otherwise sleeps until the next one is due.
SCHEDULER_WAKE = "internal:community_scheduler"
SORTS = ("newest", "activity")
MAX_TITLE = 300
MAX_BODY = 50_000
MAX_REASON = 1000


@dataclass(frozen=True)
class Seen:
    """A discussion the member may see, its space and the evaluator's ``view`` decision there."""

    discussion: Discussion
    space: Space
    decision: Decision

    @property
    def moderator(self) -> bool:
        return is_moderator(self.decision)


@dataclass(frozen=True)
class FeedQuery:
    page: PageRequest
    after: str | None = None
    sort: str = "newest"
    status: str = "published"  # or draft / scheduled (the caller's own), removed (moderators)
    pinned: bool | None = None


# ---- reading ------------------------------------------------------------------------------------


async def get_discussion(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None) -> Seen:
    """The discussion as the member may see it now (:func:`visible_discussion`)."""
    return await visible_discussion(ctx.uow, ctx.access, member, discussion_id, ctx.now())


async def visible_discussion(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal,
                             discussion_id: uuid.UUID | None, now: datetime, *, lock: bool = False) -> Seen:
    """The discussion as the member may see it: its space must allow ``view`` (404 when the space is
    secret to them, 403 with the reason otherwise); drafts and scheduled ones are their author's
    alone, removed ones their author's and the moderators' (404 for anyone else). With ``lock``
    (writers), the discussion's row is locked until commit and read afresh (module docstring); one
    deleted while this waited is not found."""
    stmt = (sa.select(Discussion, Space).join(Space, Space.id == Discussion.space_id)
            .where(Discussion.id == discussion_id, Discussion.hub_id == member.hub_id,
                   Discussion.deleted_at.is_(None), Space.deleted_at.is_(None)))
    if lock:  # the discussion's row only: the space is read, not changed
        stmt = stmt.with_for_update(of=Discussion).execution_options(populate_existing=True)
    row = (await uow.session.execute(stmt)).first() if discussion_id else None
    if row is None:
        raise NotFound("Discussion not found.")
    d, space = row
    decision = await require_space(uow, cache, member, "view", space.id, now)
    mine = d.author_contact_id == member.contact_id
    if d.status != "published" and not mine:
        raise NotFound("Discussion not found.")
    if d.removed_at is not None and not (mine or is_moderator(decision)):
        raise NotFound("Discussion not found.")
    return Seen(d, space, decision)


async def channel_space(ctx: Ctx, hub_id: uuid.UUID, contact_id: uuid.UUID,
                        discussion_id: uuid.UUID) -> uuid.UUID | None:
    """For ``discussion:{id}`` subscriptions: the space whose ``view`` decides them, or None when
    the discussion is not one this contact could see (missing, another hub's, deleted, someone
    else's draft). Removed discussions keep their channel (the ``*.removed`` events go there)."""
    row = (await ctx.uow.session.execute(
        sa.select(Discussion.space_id, Discussion.status, Discussion.author_contact_id)
        .join(Space, Space.id == Discussion.space_id)
        .where(Discussion.id == discussion_id, Discussion.hub_id == hub_id, Discussion.deleted_at.is_(None),
               Space.deleted_at.is_(None))
    )).first()
    if row is None or (row.status != "published" and row.author_contact_id != contact_id):
        return None
    return row.space_id  # type: ignore[no-any-return]


class DiscussionFields(Protocol):
    """What a discussion is read for in a feed: a Discussion, or a row of its columns (a feed reads
    rows, not ORM objects, since it changes none of them: building 50 objects was a tenth of the
    request, bench/README.md)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def hub_id(self) -> uuid.UUID: ...
    @property
    def space_id(self) -> uuid.UUID: ...
    @property
    def author_contact_id(self) -> uuid.UUID: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def publish_at(self) -> datetime | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def is_pinned(self) -> bool: ...
    @property
    def is_locked(self) -> bool: ...
    @property
    def comment_count(self) -> int: ...
    @property
    def last_activity_at(self) -> datetime: ...
    @property
    def edited_at(self) -> datetime | None: ...
    @property
    def removed_at(self) -> datetime | None: ...
    @property
    def removal_reason(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


async def space_feed(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None, q: FeedQuery) -> Page[DiscussionFields]:
    """A space's discussions (see :func:`_feed` for sorting and paging)."""
    uow = ctx.uow
    seen = await require_space_row(uow, ctx.access, member, "view", space_id, ctx.now())
    return await _feed(uow, member, Discussion.space_id == seen.space.id, q, is_moderator(seen.decision))


async def hub_feed(ctx: Ctx, member: MemberPrincipal, q: FeedQuery) -> Page[DiscussionFields]:
    """Discussions of every space the member may view, in one feed (removed ones for the hub's
    moderators: the evaluator's ``view`` on those spaces says so)."""
    seen = await visible_spaces(ctx.uow, ctx.access, member, ctx.now())
    if not seen:
        return Page([], False, None)
    moderator = any(is_moderator(s.decision) for s in seen)
    return await _feed(ctx.uow, member, Discussion.space_id.in_([s.space.id for s in seen]), q, moderator)


_PAGE_REACTIONS = reaction_counts.page_reactions("discussion", Discussion.__table__.c.id)


async def _feed(uow: UnitOfWork, member: MemberPrincipal, where: Any, q: FeedQuery, moderator: bool) -> Page[DiscussionFields]:
    """Newest first by id, or by ``last_activity_at`` then id; the cursor holds the full key of the
    last row, so rows inserted meanwhile never repeat or hide rows of later pages."""
    stmt = sa.select(*Discussion.__table__.c).where(where, Discussion.hub_id == member.hub_id,
                                                   Discussion.deleted_at.is_(None))
    if q.status == "published":
        stmt = stmt.where(Discussion.status == "published", Discussion.removed_at.is_(None))
    elif q.status in ("draft", "scheduled"):
        stmt = stmt.where(Discussion.status == q.status, Discussion.author_contact_id == member.contact_id)
    elif q.status == "removed":
        if not moderator:
            raise Forbidden("Only the hub's moderators see removed discussions.", code="insufficient_role")
        stmt = stmt.where(Discussion.removed_at.is_not(None))
    else:
        raise ValidationFailed("filter[status] is one of published, draft, scheduled, removed.",
                               code="invalid_filter", parameter="filter[status]")
    if q.pinned is not None:
        stmt = stmt.where(Discussion.is_pinned.is_(q.pinned))
    if q.sort == "activity":
        cursor = decode_sort_cursor("a", "time", q.after)
        stmt = stmt.where(rows_after(Discussion.last_activity_at, Discussion.id, cursor, descending=True)) \
            .order_by(Discussion.last_activity_at.desc(), Discussion.id.desc())

        def cursor_of(d: DiscussionFields) -> str:
            return encode_sort_cursor("a", d.last_activity_at, d.id)
    elif q.sort == "newest":
        cursor = decode_sort_cursor("n", "id", q.after)
        stmt = stmt.where(rows_after(None, Discussion.id, cursor, descending=True)).order_by(Discussion.id.desc())

        def cursor_of(d: DiscussionFields) -> str:
            return encode_sort_cursor("n", None, d.id)
    else:
        raise ValidationFailed("sort is newest or activity.", code="invalid_parameter", parameter="sort")
    # On PostgreSQL each row brings its reactions as the member sees them (reaction_counts).
    stmt = reaction_counts.with_page_reactions(stmt, uow.session, _PAGE_REACTIONS, member)
    rows: list[DiscussionFields] = list((await uow.session.execute(stmt.limit(q.page.size + 1))).all())
    return page_of(rows, q.page.size, cursor_of)


# ---- writing ------------------------------------------------------------------------------------


async def start_discussion(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None,
                           fields: Mapping[str, Any]) -> Discussion:
    """Start a discussion in a space the member may post in (``post`` on the space: 404 when it is
    secret to them, 403 ``posting_restricted`` / ``not_a_space_member`` / ...), within the posting
    rate limits. Published at once unless ``status`` is ``draft`` or ``scheduled`` (then
    ``publish_at`` is required and in the future)."""
    uow, now = ctx.uow, ctx.now()
    seen = await require_space_row(uow, ctx.access, member, "post", space_id, now)
    space, decision = seen.space, seen.decision
    title, body = _title(fields.get("title")), _body(fields.get("body"))
    status = fields.get("status") or "published"
    if status not in STATUSES:
        raise ValidationFailed("status is draft, scheduled or published.", code="invalid_value",
                               field="status")
    publish_at = _publish_at(status, fields.get("publish_at"), now)
    await check_posting_rate(uow, ctx.limiter, member, space.id, decision)
    d = Discussion(hub_id=member.hub_id, space_id=space.id, author_contact_id=member.contact_id, title=title,
                   body=body, status=status, publish_at=publish_at,
                   published_at=now if status == "published" else None,
                   last_activity_at=publish_at or now, is_pinned=False, is_locked=False, comment_count=0,
                   created_at=now, updated_at=now)
    uow.session.add(d)
    await uow.session.flush()
    if status == "published":
        await announce(uow, d, space, "discussion.created", now)
    elif status == "scheduled":
        uow.publish(SCHEDULER_WAKE, b"wake")
    return d


async def edit_discussion(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None,
                          changes: Mapping[str, Any]) -> Discussion:
    """The author edits title and body, or moves a draft/scheduled discussion along (to draft,
    scheduled with a future ``publish_at``, or published: announced then). A published discussion
    stays published (409 ``already_published``); a removed one is not edited (409
    ``discussion_removed``, also when it was removed while this waited for its row). Others: 403
    ``not_author``."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_discussion(uow, ctx.access, member, discussion_id, now, lock=True)
    d = seen.discussion
    _author_only(d, member)
    if d.removed_at is not None:
        raise Conflict("A removed discussion cannot be edited.", code="discussion_removed")
    was_published = d.status == "published"
    edited = False
    if "title" in changes:
        d.title = _title(changes["title"])
        edited = True
    if "body" in changes:
        d.body = _body(changes["body"])
        edited = True
    status = changes.get("status") or d.status
    if status not in STATUSES:
        raise ValidationFailed("status is draft, scheduled or published.", code="invalid_value",
                               field="status")
    if was_published and status != "published":
        raise Conflict("A published discussion cannot go back to draft or scheduled.", code="already_published",
                       field="status")
    if was_published and "publish_at" in changes and changes["publish_at"] is not None:
        raise ValidationFailed("publish_at is only for scheduled discussions.", code="invalid_value",
                               field="publish_at")
    if not was_published:
        if "publish_at" not in changes and status == d.status == "scheduled":
            pass  # unchanged schedule: only the title or body was edited
        else:
            raw_at = changes["publish_at"] if "publish_at" in changes else (
                d.publish_at if status == "scheduled" else None)
            d.publish_at = _publish_at(status, raw_at, now)
        d.status = status
        if status == "published":
            d.published_at = now
            d.last_activity_at = now
        elif status == "scheduled":
            d.last_activity_at = d.publish_at or now
    if was_published and edited:
        d.edited_at = now
    d.updated_at = now
    await uow.session.flush()
    if status == "published":
        if not was_published:
            await announce(uow, d, seen.space, "discussion.created", now)
        elif edited:
            await announce(uow, d, seen.space, "discussion.updated", now)
    elif status == "scheduled":
        uow.publish(SCHEDULER_WAKE, b"wake")  # its publish_at may have moved earlier
    return d


async def delete_discussion(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None) -> None:
    """The author deletes their discussion (403 ``not_author`` for anyone else); it disappears
    live if it was showing (not when a moderator removed it first: that was announced then)."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_discussion(uow, ctx.access, member, discussion_id, now, lock=True)
    d = seen.discussion
    _author_only(d, member)
    showing = _showing(d)
    d.deleted_at = now
    d.updated_at = now
    await uow.session.flush()
    if showing:
        await _announce_removed(uow, d, seen.space, "author", now)


async def moderate_discussion(ctx: Ctx, member: MemberPrincipal, discussion_id: uuid.UUID | None, action: str, *,
                              reason: str | None = None) -> Discussion:
    """A hub moderator (``moderate`` on the space; 403 ``insufficient_role`` otherwise) removes or
    restores, pins or unpins, locks or unlocks. Idempotent: repeating an action changes nothing and
    announces nothing (a removal keeps the first removal's time and reason, also when the report
    queue or the author got there first while this waited for the row)."""
    uow, now = ctx.uow, ctx.now()
    seen = await visible_discussion(uow, ctx.access, member, discussion_id, now, lock=True)
    await require_space(uow, ctx.access, member, "moderate", seen.space.id, now)
    d = seen.discussion
    if action == "remove":
        if reason is not None and len(reason) > MAX_REASON:
            raise ValidationFailed(f"The reason is at most {MAX_REASON} characters.", code="too_long",
                                   field="reason")
        await remove_discussion(uow, d, "moderator", reason, now)
        return d
    if action == "restore":
        await restore_discussion(uow, d, now)
        return d
    flag, value = {"pin": ("is_pinned", True), "unpin": ("is_pinned", False),
                   "lock": ("is_locked", True), "unlock": ("is_locked", False)}[action]
    if getattr(d, flag) != value:
        setattr(d, flag, value)
        d.updated_at = now
        await uow.session.flush()
        if _showing(d):
            await announce(uow, d, seen.space, "discussion.updated", now)
    return d


async def remove_discussion(uow: UnitOfWork, d: Discussion, by: str, reason: str | None, now: datetime) -> bool:
    """Take a discussion down (``removed_at``, ``removal_reason``); if it was showing,
    ``discussion.removed`` goes out after commit. True when it did; a discussion already removed or
    deleted stays as it is (False: no change, no event). The caller holds the discussion's row lock
    (``SELECT ... FOR UPDATE``, read afresh), so that concurrent removals apply and announce once."""
    if d.removed_at is not None or d.deleted_at is not None:
        return False
    showing = _showing(d)
    d.removed_at, d.removal_reason, d.updated_at = now, reason, now
    await uow.session.flush()
    if showing:
        await _announce_removed(uow, d, await _space_of(uow, d), by, now)
    return True


async def restore_discussion(uow: UnitOfWork, d: Discussion, now: datetime) -> bool:
    """Bring a removed discussion back (not one its author deleted); a published one is announced
    again (``discussion.updated``). True when it did; False, changing nothing, when it was not
    removed. The caller holds the discussion's row lock, as for :func:`remove_discussion`."""
    if d.removed_at is None or d.deleted_at is not None:
        return False
    d.removed_at, d.removal_reason, d.updated_at = None, None, now
    await uow.session.flush()
    if d.status == "published":
        await announce(uow, d, await _space_of(uow, d), "discussion.updated", now)
    return True


# ---- events -------------------------------------------------------------------------------------


def discussion_data(d: Discussion) -> DiscussionPublished:
    return DiscussionPublished(
        id=str(d.id), hub_id=str(d.hub_id), space_id=str(d.space_id), author_contact_id=str(d.author_contact_id),
        title=d.title, body=d.body, status=d.status, is_pinned=d.is_pinned, is_locked=d.is_locked,
        comment_count=d.comment_count, published_at=d.published_at, last_activity_at=d.last_activity_at,
        edited_at=d.edited_at, created_at=d.created_at)


async def announce(uow: UnitOfWork, d: Discussion, space: Space, name: str, at: datetime) -> None:
    """``discussion.created`` / ``discussion.updated`` after commit, on the space's channel and,
    when everyone in the hub may see the space, on the hub's."""
    for channel in await live_channels_of(uow, space):
        emit(uow, channel, name, discussion_data(d), at)


async def _announce_removed(uow: UnitOfWork, d: Discussion, space: Space, by: str, at: datetime) -> None:
    data = DiscussionRemoved(id=str(d.id), hub_id=str(d.hub_id), space_id=str(d.space_id), removed_by=by)
    channels = [*await live_channels_of(uow, space), discussion_channel(d.id)]
    for channel in channels:
        emit(uow, channel, "discussion.removed", data, at)


def _showing(d: Discussion) -> bool:
    """Shown to the space's members (what ``discussion.removed`` takes away live)."""
    return d.status == "published" and d.removed_at is None and d.deleted_at is None


async def _space_of(uow: UnitOfWork, d: Discussion) -> Space:
    return await uow.session.get_one(Space, d.space_id)  # mostly loaded with the discussion: no query


# ---- field rules --------------------------------------------------------------------------------


def _author_only(d: Discussion, member: MemberPrincipal) -> None:
    if d.author_contact_id != member.contact_id:
        raise Forbidden("Only the author can do this.", code="not_author")


def _title(value: Any) -> str:
    title = value.strip() if isinstance(value, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(f"A title is 1 to {MAX_TITLE} characters.", code="invalid_title",
                               field="title")
    return title


def _body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_BODY:
        raise ValidationFailed(f"A body is 1 to {MAX_BODY} characters.", code="invalid_body", field="body")
    return value


def _publish_at(status: str, value: Any, now: datetime) -> datetime | None:
    if status != "scheduled":
        if value is not None:
            raise ValidationFailed("publish_at is only for scheduled discussions.", code="invalid_value",
                                   field="publish_at")
        return None
    if value is None:
        raise ValidationFailed("A scheduled discussion needs publish_at.", code="missing_publish_at",
                               field="publish_at")
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed("publish_at is a date-time with a time zone.", code="invalid_value",
                               field="publish_at")
    if value <= now:
        raise ValidationFailed("publish_at must be in the future.", code="publish_at_in_past",
                               field="publish_at")
    return value
