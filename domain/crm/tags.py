"""Tags: a team's labels for its contacts. Assigning one is idempotent; a bulk assignment is all
or nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contacts import find_team_contact
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import ContactTag, Tag, TeamContact
from persistence.pagination import Page, PageRequest, paginate

MAX_NAME = 100
MAX_BULK = 100
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class TagRecord:
    """A tag and how many of the team's live contacts carry it."""

    tag: Tag
    contact_count: int


@dataclass(frozen=True)
class Assignment:
    """One tag on one team contact."""

    team_contact_id: uuid.UUID
    tag_id: uuid.UUID
    created_at: datetime


async def create_tag(ctx: Ctx, team: TeamContext, *, name: str, color: str | None = None,
                     description: str | None = None) -> TagRecord:
    """A new tag; names are unique per team, ignoring case (409 ``tag_exists``)."""
    name = _check_name(name)
    await _check_free(ctx.uow, team, name)
    now = ctx.now()
    tag = Tag(team_id=team.team_id, name=name, color=_check_color(color), description=_blank(description),
              created_at=now, updated_at=now)
    await _flush_unique(ctx.uow, tag)
    return TagRecord(tag, 0)


async def list_tags(ctx: Ctx, team: TeamContext, page: PageRequest, *, name: str | None = None) -> Page[TagRecord]:
    """The team's tags in creation order, each with its contact count."""
    stmt = sa.select(Tag).where(Tag.team_id == team.team_id)
    if name is not None:
        stmt = stmt.where(sa.func.lower(Tag.name) == name.strip().lower())
    tags = await paginate(ctx.uow.session, stmt, Tag.id, page)
    counts = await _contact_counts(ctx.uow, [t.id for t in tags.items])
    return Page([TagRecord(t, counts.get(t.id, 0)) for t in tags.items], tags.has_more, tags.next_cursor)


async def get_tag(ctx: Ctx, team: TeamContext, tag_id: uuid.UUID | None) -> TagRecord:
    """One of the team's tags with its contact count, or 404."""
    tag = await find_tag(ctx.uow, team, tag_id)
    return TagRecord(tag, (await _contact_counts(ctx.uow, [tag.id])).get(tag.id, 0))


async def update_tag(ctx: Ctx, team: TeamContext, tag_id: uuid.UUID | None, changes: Mapping[str, Any]) -> TagRecord:
    """Rename, recolor or describe a tag; only the given fields change (``None`` clears color
    and description)."""
    uow = ctx.uow
    tag = await find_tag(uow, team, tag_id)
    if "name" in changes:
        name = _check_name(changes["name"])
        if name.lower() != tag.name.lower():
            await _check_free(uow, team, name)
        tag.name = name
    if "color" in changes:
        tag.color = _check_color(changes["color"])
    if "description" in changes:
        tag.description = _blank(changes["description"])
    tag.updated_at = ctx.now()
    await _flush_unique(uow, tag)
    return await get_tag(ctx, team, tag.id)


async def delete_tag(ctx: Ctx, team: TeamContext, tag_id: uuid.UUID | None) -> None:
    """Delete a tag; it comes off every contact that had it."""
    uow = ctx.uow
    tag = await find_tag(uow, team, tag_id)
    await uow.session.execute(sa.delete(ContactTag).where(ContactTag.tag_id == tag.id))
    await uow.session.delete(tag)
    await uow.session.flush()
    facts_changed(uow, team_id=team.team_id)  # every contact that had it, in every hub of the team


async def find_tag(uow: UnitOfWork, team: TeamContext, tag_id: uuid.UUID | None) -> Tag:
    """The team's tag, 404 for a malformed, unknown or foreign id."""
    tag = await uow.session.get(Tag, tag_id) if tag_id else None
    if tag is None or tag.team_id != team.team_id:
        raise NotFound("Tag not found.")
    return tag


async def assign_tag(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None,
                     tag_id: str) -> tuple[Assignment, bool]:
    """Put a tag on a contact; already there is fine. Returns (assignment, newly assigned)."""
    tc = await find_team_contact(ctx.uow, team, team_contact_id)
    tags = await _team_tags(ctx.uow, team, [tag_id], field="tag_id")
    assignments, created = await _assign(ctx.uow, ctx.now(), tc, tags)
    return assignments[0], bool(created)


async def assign_tags(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None,
                      tag_ids: Sequence[str]) -> list[Assignment]:
    """Put several tags on a contact, all or nothing: one unknown or foreign tag id (422 naming
    its index) and none is assigned."""
    tc = await find_team_contact(ctx.uow, team, team_contact_id)
    if len(tag_ids) > MAX_BULK:
        raise ValidationFailed(f"Assign at most {MAX_BULK} tags at once.", code="too_many_tags",
                               field="tag_ids")
    tags = await _team_tags(ctx.uow, team, tag_ids, field="tag_ids", indexed=True)
    assignments, _ = await _assign(ctx.uow, ctx.now(), tc, tags)
    return assignments


async def remove_tag(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None,
                     tag_id: uuid.UUID | None) -> None:
    """Take a tag off a contact; not there is fine (the contact and the tag must exist)."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    tag = await find_tag(uow, team, tag_id)
    await uow.session.execute(
        sa.delete(ContactTag).where(ContactTag.team_contact_id == tc.id, ContactTag.tag_id == tag.id)
    )
    facts_changed(uow, team_id=team.team_id, contact_id=tc.contact_id)


async def _team_tags(uow: UnitOfWork, team: TeamContext, raw_ids: Sequence[str], *, field: str,
                     indexed: bool = False) -> list[uuid.UUID]:
    """The ids in ``raw_ids`` (order kept, repeats dropped), each checked to be one of the team's
    tags; the first that is not is a 422 naming ``field`` (with its index when ``indexed``)."""
    parsed = [parse_id(raw) for raw in raw_ids]
    wanted = {i for i in parsed if i is not None}
    known = set((await uow.session.scalars(
        sa.select(Tag.id).where(Tag.team_id == team.team_id, Tag.id.in_(wanted))
    )).all()) if wanted else set()
    out: list[uuid.UUID] = []
    for index, tag_id in enumerate(parsed):
        if tag_id not in known:
            raise ValidationFailed("No such tag in this team.", code="unknown_tag",
                                   field=(field, index) if indexed else field)
        if tag_id not in out:
            out.append(tag_id)
    return out


async def _assign(uow: UnitOfWork, now: datetime, tc: TeamContact,
                  tag_ids: list[uuid.UUID]) -> tuple[list[Assignment], list[uuid.UUID]]:
    s = uow.session
    for attempt in range(3):
        existing = dict((await s.execute(
            sa.select(ContactTag.tag_id, ContactTag.created_at)
            .where(ContactTag.team_contact_id == tc.id, ContactTag.tag_id.in_(tag_ids))
        )).all()) if tag_ids else {}
        new = [t for t in tag_ids if t not in existing]
        if not new:
            break
        try:
            async with s.begin_nested():  # a concurrent identical assignment is not an error: look again
                s.add_all([ContactTag(team_contact_id=tc.id, tag_id=t, created_at=now) for t in new])
                await s.flush()
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
            continue
        existing.update({t: now for t in new})
        tc.updated_at = now
        await s.flush()
        facts_changed(uow, team_id=tc.team_id, contact_id=tc.contact_id)  # tags are team-wide
        break
    return [Assignment(tc.id, t, existing[t]) for t in tag_ids], new


async def _contact_counts(uow: UnitOfWork, tag_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Live (non-deleted) contacts per tag, in one grouped query."""
    if not tag_ids:
        return {}
    rows = await uow.session.execute(
        sa.select(ContactTag.tag_id, sa.func.count())
        .join(TeamContact, TeamContact.id == ContactTag.team_contact_id)
        .where(ContactTag.tag_id.in_(tag_ids), TeamContact.deleted_at.is_(None))
        .group_by(ContactTag.tag_id)
    )
    return dict(rows.all())


async def _check_free(uow: UnitOfWork, team: TeamContext, name: str) -> None:
    taken = await uow.session.scalar(
        sa.select(Tag.id).where(Tag.team_id == team.team_id, sa.func.lower(Tag.name) == name.lower())
    )
    if taken is not None:
        raise Conflict("The team already has a tag with this name.", code="tag_exists",
                       field="name", meta={"tag_id": str(taken)})


async def _flush_unique(uow: UnitOfWork, tag: Tag) -> None:
    """Flush ``tag``; losing a race for its name is the same 409 as finding it taken."""
    s = uow.session
    try:
        async with s.begin_nested():
            s.add(tag)
            await s.flush()
    except sa.exc.IntegrityError:
        raise Conflict("The team already has a tag with this name.", code="tag_exists",
                       field="name") from None


def _check_name(name: Any) -> str:
    name = (name or "").strip() if isinstance(name, str) or name is None else name
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"A tag needs a name of 1 to {MAX_NAME} characters.", code="invalid_tag_name",
                               field="name")
    return name


def _check_color(color: str | None) -> str | None:
    color = _blank(color)
    if color is not None and not _COLOR.match(color):
        raise ValidationFailed("color is a hex color such as #1a2b3c.", code="invalid_color",
                               field="color")
    return color


def _blank(value: str | None) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else value


async def tag_contact_by_name(uow: UnitOfWork, now: datetime, team_id: uuid.UUID, contact_id: uuid.UUID,
                              name: str) -> uuid.UUID | None:
    """Give the contact's team record the team's tag ``name`` (matched ignoring case; created when
    missing), for other contexts that label contacts automatically (a completed course). Idempotent;
    None when the contact has no record in the team."""
    s = uow.session
    tc = await s.scalar(sa.select(TeamContact).where(TeamContact.team_id == team_id,
                                                     TeamContact.contact_id == contact_id))
    if tc is None:
        return None
    name = name[:MAX_NAME]
    for _ in range(3):
        tag_id = await s.scalar(sa.select(Tag.id).where(Tag.team_id == team_id,
                                                         sa.func.lower(Tag.name) == name.lower()))
        if tag_id is not None:
            break
        try:
            async with s.begin_nested():
                tag = Tag(team_id=team_id, name=name, created_at=now, updated_at=now)
                s.add(tag)
                await s.flush()
                tag_id = tag.id
                break
        except sa.exc.IntegrityError:
            continue  # created meanwhile: read it again
    if tag_id is None:
        return None
    await _assign(uow, now, tc, [tag_id])
    return tag_id
