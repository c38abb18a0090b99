"""Segments: a team's saved condition trees over its contacts, their members, counts and previews.

A segment's tree is validated in full on create and update (``domain/crm/segment_conditions.py``
for its shape and values, ``domain/crm/segment_sql.py`` for what it refers to) and stored in its
canonical form. Its members are the team's (non-deleted) contacts its compiled clause matches.

Public API for other contexts: :func:`segment_clause` (one saved segment) and
:func:`segment_clauses` (several, in a bounded number of queries), plus the use cases the routes
call, which take a ``Ctx`` first and then the team (domain/context.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contact_tags import tag_ids_of
from domain.crm.segment_conditions import InvalidSegment, SegmentConditions, canonical, parse_conditions
from domain.crm.segment_sql import compile_conditions, compile_saved_trees
from domain.errors import NotFound, ValidationFailed
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import Contact, Segment, TeamContact
from persistence.pagination import Page, PageRequest, paginate

# ---- saved segments as other contexts use them ------------------------------------------------------


async def _team_segment(uow: UnitOfWork, team_id: uuid.UUID, segment_id: uuid.UUID | None) -> Segment:
    segment = await uow.session.get(Segment, segment_id) if segment_id else None
    if segment is None or segment.team_id != team_id:
        raise NotFound("Segment not found.")
    return segment


async def segment_clause(uow: UnitOfWork, team_id: uuid.UUID,
                         segment_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """The clause of a saved segment (see :func:`~domain.crm.segment_sql.compile_conditions`);
    NotFound when the segment is unknown or another team's. A tag, hub or attribute deleted since
    the segment was saved matches as "nobody has it" rather than failing."""
    segment = await _team_segment(uow, team_id, segment_id)
    return await compile_conditions(uow, team_id, segment.conditions, strict=False)


async def segment_clauses(uow: UnitOfWork, team_id: uuid.UUID,
                          segment_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, sa.ColumnElement[bool]]:
    """The clauses of several saved segments (as :func:`segment_clause`), in a bounded number of
    queries whatever their number: one for the segments, then at most one per reference kind (tags,
    hubs, attributes, options) for all of them together. Unknown and other teams' segments are left
    out: they match nobody."""
    if not segment_ids:
        return {}
    rows = (await uow.session.execute(sa.select(Segment.id, Segment.conditions).where(
        Segment.team_id == team_id, Segment.id.in_(set(segment_ids))))).all()
    trees: dict[uuid.UUID, SegmentConditions] = {}
    for segment_id, conditions in rows:
        try:
            trees[segment_id] = parse_conditions(conditions)
        except InvalidSegment:  # stored trees were validated; one that no longer parses matches nobody
            continue
    return await compile_saved_trees(uow, team_id, trees)


# ---- the use cases ------------------------------------------------------------------------------------


async def get_segment(ctx: Ctx, team: TeamContext, segment_id: uuid.UUID | None) -> Segment:
    """The team's segment, or 404 (also another team's, or a malformed id)."""
    return await _team_segment(ctx.uow, team.team_id, segment_id)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A segment needs a name of 1 to 200 characters.", code="invalid_name",
                               field="name")
    return name


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > 1000:
        raise ValidationFailed("A description is at most 1000 characters.", code="invalid_description",
                               field="description")
    return description or None


async def _validated_tree(uow: UnitOfWork, team_id: uuid.UUID, raw: Any) -> dict[str, Any]:
    tree = parse_conditions(raw)
    await compile_conditions(uow, team_id, tree)  # every node and reference checked, strictly
    return canonical(tree)


async def list_segments(ctx: Ctx, team: TeamContext, page: PageRequest) -> Page[Segment]:
    return await paginate(ctx.uow.session, sa.select(Segment).where(Segment.team_id == team.team_id), Segment.id,
                          page)


async def create_segment(ctx: Ctx, team: TeamContext, *, name: str, description: str | None,
                         conditions: Any) -> Segment:
    name = _check_name(name)
    description = _check_description(description)
    tree = await _validated_tree(ctx.uow, team.team_id, conditions)
    now = ctx.now()
    segment = Segment(team_id=team.team_id, name=name, description=description, conditions=tree,
                      created_at=now, updated_at=now)
    ctx.uow.session.add(segment)
    await ctx.uow.session.flush()
    return segment


_KEEP: Any = object()


async def update_segment(ctx: Ctx, team: TeamContext, segment_id: uuid.UUID | None, *, name: Any = _KEEP,
                         description: Any = _KEEP, conditions: Any = _KEEP) -> Segment:
    """Change what is given; new conditions are validated as strictly as on create."""
    uow = ctx.uow
    segment = await _team_segment(uow, team.team_id, segment_id)
    if name is not _KEEP:
        segment.name = _check_name(name)
    if description is not _KEEP:
        segment.description = _check_description(description)
    if conditions is not _KEEP:
        segment.conditions = await _validated_tree(uow, team.team_id, conditions)
    segment.updated_at = ctx.now()
    await uow.session.flush()
    facts_changed(uow, team_id=team.team_id)  # access rules may name it in any hub of the team
    return segment


async def delete_segment(ctx: Ctx, team: TeamContext, segment_id: uuid.UUID | None) -> None:
    uow = ctx.uow
    segment = await _team_segment(uow, team.team_id, segment_id)
    await uow.session.delete(segment)
    await uow.session.flush()
    facts_changed(uow, team_id=team.team_id)


# ---- members ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentMember:
    """A matching team contact with its contact's email and the names shown in the CRM."""

    team_contact: TeamContact
    contact: Contact
    tag_ids: list[uuid.UUID]

    @property
    def id(self) -> uuid.UUID:
        return self.team_contact.id

    @property
    def first_name(self) -> str | None:
        return self.team_contact.first_name or self.contact.first_name

    @property
    def last_name(self) -> str | None:
        return self.team_contact.last_name or self.contact.last_name


async def _members_page(uow: UnitOfWork, clause: sa.ColumnElement[bool], page: PageRequest) -> Page[SegmentMember]:
    tc_page = await paginate(uow.session, sa.select(TeamContact).where(clause), TeamContact.id, page)
    ids = {tc.contact_id for tc in tc_page.items}
    contacts = {c.id: c for c in (await uow.session.scalars(sa.select(Contact).where(Contact.id.in_(ids)))).all()} \
        if ids else {}
    tags = await tag_ids_of(uow, [tc.id for tc in tc_page.items])
    return Page([SegmentMember(tc, contacts[tc.contact_id], tags[tc.id]) for tc in tc_page.items],
                tc_page.has_more, tc_page.next_cursor)


async def _count_matches(uow: UnitOfWork, clause: sa.ColumnElement[bool]) -> int:
    n = await uow.session.scalar(sa.select(sa.func.count()).select_from(TeamContact).where(clause))
    return int(n or 0)


async def segment_members(ctx: Ctx, team: TeamContext, segment_id: uuid.UUID | None,
                          page: PageRequest) -> Page[SegmentMember]:
    """One cursor page of the team contacts a saved segment matches, oldest first."""
    return await _members_page(ctx.uow, await segment_clause(ctx.uow, team.team_id, segment_id), page)


async def count_segment_members(ctx: Ctx, team: TeamContext, segment_id: uuid.UUID | None) -> int:
    return await _count_matches(ctx.uow, await segment_clause(ctx.uow, team.team_id, segment_id))


async def search_contacts(ctx: Ctx, team: TeamContext, conditions: Any,
                          page_size: int) -> tuple[Page[SegmentMember], int]:
    """Preview an unsaved tree: the first ``page_size`` matches and how many match in all."""
    clause = await compile_conditions(ctx.uow, team.team_id, conditions)
    page = await _members_page(ctx.uow, clause, PageRequest(size=page_size))
    return page, await _count_matches(ctx.uow, clause)
