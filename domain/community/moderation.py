"""Community moderation: members report discussions, comments, messages or members; moderators
work the queue and act; everything they do lands in the audit log.

Reports of the same item collapse into one open queue entry (``Report``) whose ``report_count``
is the number of members who reported it, one ``ReportReason`` each. Reporters of the same item
are serialized on the item's row, so two reports at the same instant still make one entry.

Lock order: the reported item's row, then its queue entry. Every transaction that takes both locks
the item first (``SELECT ... FOR UPDATE`` of the discussion, comment or message; of the hub
membership, for a member): a reporter locks the item, then finds, counts or opens the entry;
``resolve_report`` reads the entry unlocked only to learn its item (which never changes), locks the
item, then locks the entry and reads it afresh. As nothing locks or writes an entry without holding
its item, reports and resolutions of one item queue on the item's row and cannot deadlock (as a
resolution holding the entry while waiting for the item, and a report holding the item while
waiting for the entry, did). What a resolution changes beyond the two (the discussion's
``comment_count``, the author's membership) is locked after both. A report that waits behind a
resolution sees it done: it opens a new entry, or gets 404 when the item was removed or its author
is no longer shown.

Resolving an entry takes one action: ``dismiss``; ``remove`` (the discussion, comment or message
gets ``removed_at`` and a ``*.removed`` event goes to the channels that show it; a comment is taken
down by ``domain.community.comments.remove_comment``, as a hub moderator's removal is, so its
discussion's ``comment_count`` drops once); ``warn``, ``ban`` or ``soft_ban`` the item's author
(through ``domain.hubs.memberships.moderate_member``, which keeps its own audit row and events).
Every action writes a ``ModerationAction`` row (actor, target, reason, time) and emits
``moderation.action`` on the team channel.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access import service as access_service
from domain.access.cache import FactsCache
from domain.access.facts import Subject
from domain.community import comments, discussions, profiles
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import (
    MemberReported,
    MessageRemoved,
    ModerationActionTaken,
    conversation_channel,
    emit,
    team_channel,
)
from domain.filters import filter_choice
from domain.hubs.memberships import moderate_member
from domain.identity.members import MemberPrincipal
from domain.identity.principals import ApiKeyPrincipal
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import (
    Comment,
    ConversationParticipant,
    Discussion,
    Hub,
    HubMembership,
    MembershipAction,
    Message,
    ModerationAction,
    Report,
    ReportReason,
)
from persistence.pagination import Page, PageRequest, encode_cursor, page_of, paginate

TARGET_TYPES = ("discussion", "comment", "message", "member")
RESOLUTIONS = ("dismiss", "remove", "warn", "ban", "soft_ban")
REPORT_STATUSES = ("open", "resolved")
MAX_REASON = 1000

Target = Discussion | Comment | Message | HubMembership  # a reported item's row (a member's: their membership)


@dataclass(frozen=True)
class ReportView:
    report: Report
    reasons: list[ReportReason]

    @property
    def id(self) -> uuid.UUID:
        return self.report.id


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: a ModerationAction (``source = moderation_action``) or a
    MembershipAction (``membership_action``, whose target is the member)."""

    id: uuid.UUID
    source: str
    action: str
    target_type: str
    target_id: uuid.UUID
    reason: str | None
    report_id: uuid.UUID | None
    expires_at: datetime | None
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    actor_contact_id: uuid.UUID | None
    created_at: datetime


# ---- reporting (member side) ---------------------------------------------------------------------


async def report(ctx: Ctx, member: MemberPrincipal, *, target_type: str, target_id: str,
                 reason: str) -> tuple[Report, ReportReason, bool]:
    """Report an item of the caller's hub that the caller can see (404 otherwise, as for one
    that does not exist). Joins the item's open queue entry, or opens one. Returns (entry, the
    caller's reason, recorded now); reporting the same item again changes nothing.
    ``member.reported`` goes to the team channel when a report is recorded."""
    if target_type not in TARGET_TYPES:
        raise ValidationFailed(f"target_type is one of {', '.join(TARGET_TYPES)}.", code="invalid_value",
                               field="target_type")
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise ValidationFailed(f"A reason of 1 to {MAX_REASON} characters is required.", code="invalid_reason",
                               field="reason")
    tid = parse_id(target_id)
    if tid is None:
        raise NotFound("Nothing to report here.")
    uow, now = ctx.uow, ctx.now()
    if target_type == "member" and tid == member.contact_id:
        raise ValidationFailed("You cannot report yourself.", code="cannot_report_self", field="target_id")
    author = await _visible_target(uow, ctx.access, member, target_type, tid, now)
    s = uow.session
    entry = await s.scalar(sa.select(Report).where(Report.hub_id == member.hub_id, Report.target_type == target_type,
                                                   Report.target_id == tid, Report.status == "open"))
    if entry is not None:
        mine = await s.scalar(sa.select(ReportReason).where(ReportReason.report_id == entry.id,
                                                            ReportReason.reporter_contact_id == member.contact_id))
        if mine is not None:
            return entry, mine, False
        entry.report_count += 1
        entry.last_reported_at = now
    else:
        entry = Report(hub_id=member.hub_id, target_type=target_type, target_id=tid, target_author_contact_id=author,
                       status="open", report_count=1, first_reported_at=now, last_reported_at=now)
        s.add(entry)
    await s.flush()
    mine = ReportReason(report_id=entry.id, reporter_contact_id=member.contact_id, reason=text, created_at=now)
    s.add(mine)
    await s.flush()
    emit(uow, team_channel(member.team_id), "member.reported", MemberReported(
        report_id=str(entry.id), hub_id=str(member.hub_id), target_type=target_type, target_id=str(tid),
        target_author_contact_id=str(author) if author else None, reporter_contact_id=str(member.contact_id),
        reason=text, report_count=entry.report_count, reported_at=now), now)
    return entry, mine, True


async def _visible_target(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, target_type: str,
                          tid: uuid.UUID, now: datetime) -> uuid.UUID | None:
    """The author of the target (the member for a member), once it is known to exist in the hub
    and to be visible to the reporter; NotFound otherwise. The target's row is locked (before its
    queue entry: module docstring), so that concurrent reports of one item make one entry."""
    s = uow.session
    missing = NotFound("Nothing to report here.")
    if target_type == "member":
        # locked before the check, so that a ban committed while this waited is seen
        await s.scalar(sa.select(HubMembership.id).where(HubMembership.hub_id == member.hub_id,
                                                         HubMembership.contact_id == tid).with_for_update())
        if not await profiles.can_see_member(uow, member, tid, now):
            raise missing
        return tid
    if target_type == "message":
        msg = await s.scalar(
            sa.select(Message).join(ConversationParticipant,
                                    ConversationParticipant.conversation_id == Message.conversation_id)
            .where(Message.id == tid, Message.hub_id == member.hub_id, Message.removed_at.is_(None),
                   Message.deleted_at.is_(None), ConversationParticipant.contact_id == member.contact_id)
            .with_for_update(of=Message))
        if msg is None:
            raise missing
        return msg.author_contact_id
    if target_type == "comment":
        comment = await s.scalar(sa.select(Comment).where(
            Comment.id == tid, Comment.hub_id == member.hub_id, Comment.removed_at.is_(None),
            Comment.deleted_at.is_(None)).with_for_update())
        if comment is None:
            raise missing
        if comment.discussion_id is not None:
            await _visible_discussion(uow, cache, member, comment.discussion_id, now, lock=False)
        elif comment.content_node_id is not None and not await _may_view(
                uow, cache, member, "content_node", comment.content_node_id, now):
            raise missing
        return comment.author_contact_id
    discussion = await _visible_discussion(uow, cache, member, tid, now, lock=True)
    return discussion.author_contact_id


async def _visible_discussion(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, discussion_id: uuid.UUID,
                              now: datetime, *, lock: bool) -> Discussion:
    stmt = sa.select(Discussion).where(
        Discussion.id == discussion_id, Discussion.hub_id == member.hub_id, Discussion.removed_at.is_(None),
        Discussion.deleted_at.is_(None),
        sa.or_(Discussion.status == "published", Discussion.author_contact_id == member.contact_id))
    discussion = await uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if discussion is None or not await _may_view(uow, cache, member, "space", discussion.space_id, now):
        raise NotFound("Nothing to report here.")
    return discussion


async def _may_view(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, target_type: str,
                    target_id: uuid.UUID, now: datetime) -> bool:
    try:
        decision = await access_service.evaluate(uow, cache, Subject.member(member.contact_id), "view", target_type,
                                                 target_id, member.hub_id, now)
    except NotFound:
        return False
    return decision.allowed


# ---- the queue (team side) -----------------------------------------------------------------------


async def list_reports(ctx: Ctx, hub: Hub, page: PageRequest, *, status: str | None = None,
                       target_type: str | None = None) -> Page[ReportView]:
    """The hub's queue entries, oldest first, with every reporter's reason."""
    stmt = sa.select(Report).where(Report.hub_id == hub.id)
    if filter_choice(status, "status", REPORT_STATUSES) is not None:
        stmt = stmt.where(Report.status == status)
    if filter_choice(target_type, "target_type", TARGET_TYPES) is not None:
        stmt = stmt.where(Report.target_type == target_type)
    p = await paginate(ctx.uow.session, stmt, Report.id, page)
    return Page(await _report_views(ctx.uow, p.items), p.has_more, p.next_cursor)


async def get_report(ctx: Ctx, hub: Hub, report_id: uuid.UUID | None) -> ReportView:
    """One queue entry of the hub with every reporter's reason, or 404."""
    entry = await _report(ctx.uow, hub, report_id)
    return (await _report_views(ctx.uow, [entry]))[0]


async def resolve_report(ctx: Ctx, team: TeamContext, hub: Hub, report_id: uuid.UUID | None, action: str, *,
                         reason: str | None = None) -> tuple[ReportView, ModerationAction]:
    """``team`` closes an open queue entry with ``action`` (module docstring). 409 ``report_not_open``
    for an entry already resolved; 422 ``invalid_action`` for removing a member; 409 ``target_gone``
    when the item (or its author's membership) no longer exists."""
    if action not in RESOLUTIONS:
        raise ValidationFailed(f"action is one of {', '.join(RESOLUTIONS)}.", code="invalid_action",
                               field="action")
    note = reason.strip() if reason else None
    if note is not None and len(note) > MAX_REASON:
        raise ValidationFailed(f"A reason is at most {MAX_REASON} characters.", code="invalid_reason",
                               field="reason")
    # the item before its entry (module docstring); an entry's item never changes
    uow = ctx.uow
    item = await _lock_target(uow, hub, await _report(uow, hub, report_id))
    entry = await _report(uow, hub, report_id, lock=True)
    if entry.status != "open":
        raise Conflict("This report was already resolved.", code="report_not_open",
                       meta={"resolution": entry.resolution})
    now = ctx.now()
    if action == "remove":
        await _remove(uow, hub, entry, item, note, now)
    elif action in ("warn", "ban", "soft_ban"):
        author = entry.target_author_contact_id
        exists = author is not None and await uow.session.scalar(sa.select(HubMembership.id).where(
            HubMembership.hub_id == hub.id, HubMembership.contact_id == author))
        if not exists:
            raise Conflict("The author of the reported item is no longer a member.", code="target_gone")
        await moderate_member(ctx, team, hub, author, action,
                              reason=note or f"Reported {entry.target_type} ({entry.id})")
    entry.status, entry.resolution, entry.resolution_note = "resolved", action, note
    entry.resolved_at, entry.resolved_by_user_id = now, team.user_id
    record = ModerationAction(
        hub_id=hub.id, action=action, target_type=entry.target_type, target_id=entry.target_id, reason=note,
        report_id=entry.id, actor_user_id=team.user_id,
        actor_api_key_id=team.principal.key_id if isinstance(team.principal, ApiKeyPrincipal) else None,
        created_at=now,
    )
    uow.session.add(record)
    await uow.session.flush()
    emit(uow, team_channel(hub.team_id), "moderation.action", ModerationActionTaken(
        id=str(record.id), hub_id=str(hub.id), action=action, target_type=entry.target_type,
        target_id=str(entry.target_id), reason=note, report_id=str(entry.id),
        actor_user_id=_s(record.actor_user_id), actor_api_key_id=_s(record.actor_api_key_id), created_at=now), now)
    return (await _report_views(uow, [entry]))[0], record


async def _remove(uow: UnitOfWork, hub: Hub, entry: Report, item: Target | None, note: str | None,
                  now: datetime) -> None:
    """Take the reported item (``item``, its locked row) down and tell every channel that shows it
    (once: an item already removed stays as it is)."""
    if entry.target_type == "member":
        raise ValidationFailed("A member cannot be removed; warn, ban or soft-ban them instead.",
                               code="invalid_action", field="action")
    if item is None:
        raise Conflict("The reported item no longer exists.", code="target_gone")
    if isinstance(item, Discussion):
        # as a hub moderator's removal: once (not again for one removed or deleted by its author),
        # announced on every channel that shows it
        await discussions.remove_discussion(uow, item, "moderator", note, now)
    elif isinstance(item, Comment):
        # as a hub moderator's removal: the discussion counts one comment fewer, once
        await comments.remove_comment(uow, item, "moderator", note, now)
    elif isinstance(item, Message) and item.removed_at is None:
        item.removed_at = now
        emit(uow, conversation_channel(item.conversation_id), "message.removed", MessageRemoved(
            id=str(item.id), conversation_id=str(item.conversation_id), hub_id=str(hub.id), removed_at=now), now)
    await uow.session.flush()


# ---- the audit log -------------------------------------------------------------------------------


async def audit_log(ctx: Ctx, hub: Hub, page: PageRequest) -> Page[AuditEntry]:
    """Every moderation action and membership action (ban, unban, soft-ban, warn) of the hub,
    newest first, merged by time (ids are time-ordered): two keyset queries, one page."""
    s = ctx.uow.session
    mod = sa.select(ModerationAction).where(ModerationAction.hub_id == hub.id)
    mem = sa.select(MembershipAction).where(MembershipAction.hub_id == hub.id)
    if page.after is not None:
        mod, mem = mod.where(ModerationAction.id < page.after), mem.where(MembershipAction.id < page.after)
    n = page.size + 1
    rows: list[AuditEntry] = [_mod_entry(a) for a in (await s.scalars(
        mod.order_by(ModerationAction.id.desc()).limit(n))).all()]
    rows += [_mem_entry(a) for a in (await s.scalars(mem.order_by(MembershipAction.id.desc()).limit(n))).all()]
    rows.sort(key=lambda e: e.id, reverse=True)
    return page_of(rows, page.size, lambda e: encode_cursor(e.id))


def _mod_entry(a: ModerationAction) -> AuditEntry:
    return AuditEntry(a.id, "moderation_action", a.action, a.target_type, a.target_id, a.reason, a.report_id, None,
                      a.actor_user_id, a.actor_api_key_id, a.actor_contact_id, a.created_at)


def _mem_entry(a: MembershipAction) -> AuditEntry:
    return AuditEntry(a.id, "membership_action", a.action, "member", a.contact_id, a.reason, None, a.expires_at,
                      a.actor_user_id, a.actor_api_key_id, None, a.created_at)


# ---- helpers --------------------------------------------------------------------------------------


async def _report(uow: UnitOfWork, hub: Hub, report_id: uuid.UUID | None, *, lock: bool = False) -> Report:
    if report_id is None:
        raise NotFound("Report not found.")
    stmt = sa.select(Report).where(Report.id == report_id, Report.hub_id == hub.id)
    if lock:  # read afresh: this session may hold an older copy
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    entry = await uow.session.scalar(stmt)
    if entry is None:
        raise NotFound("Report not found.")
    return entry


async def _lock_target(uow: UnitOfWork, hub: Hub, entry: Report) -> Target | None:
    """The row of the entry's item, locked until commit and read afresh, as a reporter locks it
    (module docstring); None when there is no such row. A removed or deleted item keeps its row,
    and it is locked all the same."""
    stmt: Any
    if entry.target_type == "member":
        stmt = sa.select(HubMembership).where(HubMembership.hub_id == hub.id,
                                              HubMembership.contact_id == entry.target_id)
    else:
        model = {"discussion": Discussion, "comment": Comment, "message": Message}[entry.target_type]
        stmt = sa.select(model).where(model.id == entry.target_id, model.hub_id == hub.id)
    item: Target | None = await uow.session.scalar(
        stmt.with_for_update().execution_options(populate_existing=True))
    return item


async def _report_views(uow: UnitOfWork, entries: list[Report]) -> list[ReportView]:
    if not entries:
        return []
    reasons: dict[uuid.UUID, list[ReportReason]] = {}
    for r in (await uow.session.scalars(sa.select(ReportReason).where(
            ReportReason.report_id.in_([e.id for e in entries])).order_by(ReportReason.id))).all():
        reasons.setdefault(r.report_id, []).append(r)
    return [ReportView(e, reasons.get(e.id, [])) for e in entries]


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None
