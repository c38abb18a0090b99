"""Progress: a member marks a node complete (or not) — idempotent: marking it twice keeps the first
``completed_at`` and says nothing new.

When a node becomes complete, ``content.completed`` goes to the team's channel; when that makes
every lesson of a course (the nearest ancestor of type ``course``, else the top-level node)
is complete, ``course.completed`` too, and the contact gets the team tag ``completed:<course
slug>`` (created when missing), so the creator can segment on it (e.g. a segment condition
``{"type": "tag", "operator": "has", "value": <that tag's id>}``). Events leave after commit and
never carry a body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.service import refuse_unless_allowed
from domain.content.tree import Decider, MemberNode, contact_tree
from domain.context import Ctx
from domain.crm.tags import tag_contact_by_name
from domain.errors import NotFound, ValidationFailed
from domain.events import ContentCompleted, CourseCompleted, emit, team_channel
from domain.identity.members import MemberPrincipal
from persistence.models import ContentProgress, HubMembership

COURSE_TAG_PREFIX = "completed:"


@dataclass(frozen=True)
class ProgressView:
    node_id: uuid.UUID
    hub_id: uuid.UUID
    completed: bool
    completed_at: datetime | None
    course_id: uuid.UUID | None
    course_percent: int


def _course_of(entries: list[MemberNode], node_id: uuid.UUID) -> MemberNode | None:
    by_id = {e.node.id: e for e in entries}
    entry = by_id.get(node_id)
    top = None
    while entry is not None:
        if entry.node.node_type == "course":
            return entry
        top = entry
        entry = by_id.get(entry.node.parent_id) if entry.node.parent_id else None
    return top


async def set_progress(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID | None, completed: Any) -> ProgressView:
    """Mark the node complete (``completed`` true) or not; 404 for a node the member cannot see,
    403 with the evaluator's reason for a locked one, 422 ``invalid_completed``."""
    if not isinstance(completed, bool):
        raise ValidationFailed("completed is true or false.", code="invalid_completed", field="completed")
    tree = await contact_tree(ctx, member.hub_id, member.contact_id)
    entry = next((e for e in tree.nodes if e.node.id == node_id), None)
    if entry is None:
        raise NotFound("No content of this hub has this id.")
    if entry.locked:
        refuse_unless_allowed(await (await Decider(ctx, member.hub_id, member.contact_id).load()).decide(entry.node.id))
    s, now = ctx.uow.session, ctx.now()
    row = await _row(ctx, member, entry.node.id)
    was_done = row.completed_at is not None
    if completed != was_done:
        row.completed_at = now if completed else None
        row.updated_at = now
    elif completed:
        row.updated_at = now  # where they left off
    await s.flush()

    course = _course_of(tree.nodes, entry.node.id)
    percent = 0
    if course is not None:
        leaves, done = course.lessons, course.lessons_completed
        is_leaf = entry.lessons == 1 and not any(e.node.parent_id == entry.node.id for e in tree.nodes)
        if is_leaf and completed != was_done:
            done += 1 if completed else -1
        percent = (100 * done) // leaves if leaves else 0
    if completed and not was_done:
        emit(ctx.uow, team_channel(member.team_id), "content.completed", ContentCompleted(
            hub_id=str(member.hub_id), contact_id=str(member.contact_id), node_id=str(entry.node.id),
            node_type=entry.node.node_type, title=entry.node.title, course_id=str(course.node.id) if course else None,
            course_percent=percent, completed_at=now), now)
        if course is not None and course.lessons and percent == 100 and course.lessons_completed < course.lessons:
            tag_id = await tag_contact_by_name(ctx.uow, now, member.team_id, member.contact_id,
                                               COURSE_TAG_PREFIX + course.node.slug)
            emit(ctx.uow, team_channel(member.team_id), "course.completed", CourseCompleted(
                hub_id=str(member.hub_id), contact_id=str(member.contact_id), course_id=str(course.node.id),
                title=course.node.title, tag_id=str(tag_id) if tag_id else None, completed_at=now), now)
    return ProgressView(entry.node.id, member.hub_id, row.completed_at is not None, row.completed_at,
                        course.node.id if course else None, percent)


async def _row(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID) -> ContentProgress:
    """The member's progress row of the node, created (not complete) when missing; a concurrent
    creation of the same row is read back, not an error."""
    s = ctx.uow.session
    stmt = sa.select(ContentProgress).where(ContentProgress.node_id == node_id,
                                            ContentProgress.contact_id == member.contact_id)
    for _ in range(3):
        row = await s.scalar(stmt)
        if row is not None:
            return row
        now = ctx.now()
        try:
            async with s.begin_nested():
                row = ContentProgress(hub_id=member.hub_id, node_id=node_id, contact_id=member.contact_id,
                                      completed_at=None, created_at=now, updated_at=now)
                s.add(row)
                await s.flush()
                return row
        except sa.exc.IntegrityError:
            continue
    raise RuntimeError("content progress row could not be created")


async def check_member(ctx: Ctx, hub_id: uuid.UUID, contact_id: uuid.UUID | None) -> uuid.UUID:
    """The contact id when the contact is (or was) a member of the hub, else 404."""
    found = contact_id and await ctx.uow.session.scalar(sa.select(HubMembership.id).where(
        HubMembership.hub_id == hub_id, HubMembership.contact_id == contact_id))
    if not found or contact_id is None:
        raise NotFound("No member of this hub has this id.")
    return contact_id
