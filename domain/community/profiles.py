"""Member profiles and the hub's member directory, as one member sees the others.

A profile lives in the hub membership (``profile``: display name, bio, avatar media id, links,
visibility; edited through ``H/me``). Who sees it:

- ``everyone``: every member of the hub;
- ``shared_spaces``: members who share a (not deleted) space of the hub with them (space members);
- ``hidden``: nobody but themselves.

Banned members (a ban that has not lapsed) and members who left are never shown. A profile the
viewer may not see is answered as not found. The rule is one SQL clause, so the directory pages by
keyset and filters in the database on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from domain.community.messages import display_name
from domain.context import Ctx
from domain.crm.data_rights import ERASED_NAME
from domain.crm.segment_sql import ascii_lower
from domain.errors import NotFound, ValidationFailed
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Contact, HubMembership, Space, SpaceMember
from persistence.pagination import Page, PageRequest, paginate

MAX_QUERY = 100
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class ProfileView:
    contact_id: uuid.UUID
    display_name: str | None
    bio: str | None
    avatar_media_id: str | None
    links: list[dict[str, str]]
    role: str
    joined_at: datetime


def visible_to(viewer_id: uuid.UUID, hub_id: uuid.UUID, now: datetime) -> sa.ColumnElement[bool]:
    """True for the ``HubMembership`` rows of ``hub_id`` whose profile ``viewer_id`` may see."""
    m = HubMembership
    visibility = sa.func.coalesce(m.profile["visibility"].as_string(), "everyone")
    theirs, mine = aliased(SpaceMember), aliased(SpaceMember)
    shares_a_space = (
        sa.select(sa.literal(1))
        .select_from(theirs)
        .join(mine, sa.and_(mine.space_id == theirs.space_id, mine.contact_id == viewer_id))
        .join(Space, Space.id == theirs.space_id)
        .where(theirs.contact_id == m.contact_id, Space.hub_id == hub_id, Space.deleted_at.is_(None))
        .exists()
    )
    banned = sa.and_(m.status == "banned", sa.or_(m.status_expires_at.is_(None), m.status_expires_at > now))
    return sa.and_(
        m.hub_id == hub_id,
        m.status != "left",
        sa.not_(banned),
        sa.or_(m.contact_id == viewer_id, visibility == "everyone",
               sa.and_(visibility == "shared_spaces", shares_a_space)),
    )


async def list_directory(ctx: Ctx, member: MemberPrincipal, page: PageRequest, *,
                         q: str | None = None) -> Page[ProfileView]:
    """The hub's members the caller may see, in joining order; ``q`` matches the display name,
    first or last name (or "first last"), case-insensitively (ASCII letters, the same on both
    backends)."""
    stmt = (sa.select(HubMembership).join(Contact, Contact.id == HubMembership.contact_id)
            .where(visible_to(member.contact_id, member.hub_id, ctx.now())))
    if q is not None and q.strip():
        stmt = stmt.where(_matches(q))
    p = await paginate(ctx.uow.session, stmt, HubMembership.id, page)
    return Page(await _views(ctx.uow, p.items), p.has_more, p.next_cursor)


async def get_profile(ctx: Ctx, member: MemberPrincipal, contact_id: uuid.UUID | None) -> ProfileView:
    """One member's profile, if the caller may see it (404 otherwise, as for no such member)."""
    if contact_id is None:
        raise NotFound("Member not found.")
    m = await ctx.uow.session.scalar(sa.select(HubMembership).where(
        HubMembership.contact_id == contact_id, visible_to(member.contact_id, member.hub_id, ctx.now())))
    if m is None:
        # an erased member (domain/crm/data_rights.py): their posts stay, under this name only
        gone = await ctx.uow.session.scalar(sa.select(HubMembership).where(
            HubMembership.contact_id == contact_id, HubMembership.hub_id == member.hub_id,
            HubMembership.status == "left"))
        if gone is not None and (gone.profile or {}).get("erased"):
            return ProfileView(contact_id, ERASED_NAME, None, None, [], "member", gone.joined_at)
        raise NotFound("Member not found.")
    return (await _views(ctx.uow, [m]))[0]


async def can_see_member(uow: UnitOfWork, viewer: MemberPrincipal, contact_id: uuid.UUID, now: datetime) -> bool:
    """Whether ``viewer`` may see the profile of ``contact_id`` in the viewer's hub at ``now``."""
    found = await uow.session.scalar(sa.select(HubMembership.id).where(
        HubMembership.contact_id == contact_id, visible_to(viewer.contact_id, viewer.hub_id, now)))
    return found is not None


def _matches(q: str) -> sa.ColumnElement[bool]:
    q = q.strip()
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"filter[q] is at most {MAX_QUERY} characters.", code="invalid_filter",
                               parameter="filter[q]")
    escaped = q.translate(_ASCII_LOWER).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    full_name = sa.func.coalesce(Contact.first_name, "") + " " + sa.func.coalesce(Contact.last_name, "")
    columns: list[Any] = [HubMembership.profile["display_name"].as_string(), Contact.first_name,
                          Contact.last_name, full_name]
    return sa.or_(*(ascii_lower(col).like(pattern, escape="\\") for col in columns))


async def _views(uow: UnitOfWork, memberships: list[HubMembership]) -> list[ProfileView]:
    if not memberships:
        return []
    names = {cid: (first, last) for cid, first, last in (await uow.session.execute(
        sa.select(Contact.id, Contact.first_name, Contact.last_name)
        .where(Contact.id.in_([m.contact_id for m in memberships]))
    )).all()}
    out = []
    for m in memberships:
        prof = m.profile or {}
        first, last = names.get(m.contact_id, (None, None))
        out.append(ProfileView(
            contact_id=m.contact_id, display_name=display_name(prof, first, last), bio=prof.get("bio"),
            avatar_media_id=prof.get("avatar_media_id"),
            links=[{"label": str(x.get("label", "")), "url": str(x.get("url", ""))} for x in prof.get("links") or []],
            role=m.role, joined_at=m.joined_at,
        ))
    return out
