"""Spaces: the rooms of a hub's community.

Team side: create, read, list, update and delete a hub's spaces, and add or remove the members of
private and secret spaces. Member side: the spaces a member may see (secret ones they are not in are
absent; private ones they may not enter are listed as ``locked``), joining, leaving, muting and
marking read, with unread counts. Every change to what the evaluator reads about a space (its
access level, posting permission, segment, deletion, who is in it) calls ``facts_changed``, so
caches and live subscriptions on every instance follow.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.cache import FactsCache
from domain.access.evaluator import Decision
from domain.access.invalidation import facts_changed
from domain.community.access import SpaceSeen, decide_spaces, refuse_unless_allowed
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import (
    Discussion,
    Hub,
    HubMembership,
    Segment,
    Space,
    SpaceMember,
)
from persistence.pagination import (
    Page,
    PageRequest,
    decode_sort_cursor,
    encode_sort_cursor,
    page_of,
    paginate,
    rows_after,
)

ACCESS_LEVELS = ("open", "private", "secret")
POSTING_PERMISSIONS = ("members", "moderators")
MAX_DESCRIPTION = 5000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
_ORDER_TAG = "p"


# ---- team side ----------------------------------------------------------------------------------


async def get_space(ctx: Ctx, hub: Hub, space_id: uuid.UUID | None) -> Space:
    """The hub's live space, or 404 (another hub's, deleted, malformed id)."""
    space = await ctx.uow.session.get(Space, space_id) if space_id else None
    if space is None or space.hub_id != hub.id or space.deleted_at is not None:
        raise NotFound("Space not found.")
    return space


async def list_spaces(ctx: Ctx, hub: Hub, page: PageRequest, after: str | None) -> Page[Space]:
    """The hub's spaces in display order (``position``, then creation)."""
    return await _ordered(ctx.uow, sa.select(Space).where(Space.hub_id == hub.id, Space.deleted_at.is_(None)),
                          page, after, lambda s: s)


async def create_space(ctx: Ctx, hub: Hub, fields: Mapping[str, Any]) -> Space:
    """A new space (``name`` required; ``slug`` from the name when absent, unique in the hub)."""
    uow, now = ctx.uow, ctx.now()
    space = Space(hub_id=hub.id, name=_name(fields.get("name")), created_at=now, updated_at=now,
                  description=_description(fields.get("description")),
                  access_level=_choice(fields.get("access_level", "open"), ACCESS_LEVELS, "access_level"),
                  posting_permission=_choice(fields.get("posting_permission", "members"), POSTING_PERMISSIONS,
                                             "posting_permission"),
                  segment_id=await _segment(uow, hub, fields.get("segment_id")),
                  is_pinned=bool(fields.get("is_pinned", False)), is_default=bool(fields.get("is_default", False)),
                  position=_position(fields.get("position", 0)))
    slug = fields.get("slug")
    if slug is not None:
        _check_slug(slug)
        if await _slug_taken(uow, hub.id, slug, None):
            raise _slug_conflict()
    else:
        slug = await _free_slug(uow, hub.id, _slug_from(space.name))
    space.slug = slug
    await _flush(uow, lambda: uow.session.add(space))
    facts_changed(uow, hub_id=hub.id)
    return space


async def update_space(ctx: Ctx, hub: Hub, space: Space, changes: Mapping[str, Any]) -> Space:
    """Apply the attributes sent. Access changes reach caches and live subscriptions at once."""
    uow = ctx.uow
    if "name" in changes:
        space.name = _name(changes["name"])
    if "description" in changes:
        space.description = _description(changes["description"])
    if "access_level" in changes:
        space.access_level = _choice(changes["access_level"], ACCESS_LEVELS, "access_level")
    if "posting_permission" in changes:
        space.posting_permission = _choice(changes["posting_permission"], POSTING_PERMISSIONS, "posting_permission")
    if "segment_id" in changes:
        space.segment_id = await _segment(uow, hub, changes["segment_id"])
    for flag in ("is_pinned", "is_default"):
        if flag in changes:
            if not isinstance(changes[flag], bool):
                raise ValidationFailed(f"{flag} is true or false.", code="invalid_value", field=flag)
            setattr(space, flag, changes[flag])
    if "position" in changes:
        space.position = _position(changes["position"])
    slug = changes.get("slug")
    if slug is not None and slug != space.slug:
        _check_slug(slug)
        if await _slug_taken(uow, hub.id, slug, space.id):
            raise _slug_conflict()
        space.slug = slug
    space.updated_at = ctx.now()
    await _flush(uow, lambda: None)
    facts_changed(uow, hub_id=hub.id)
    return space


async def delete_space(ctx: Ctx, hub: Hub, space: Space) -> None:
    """Soft delete: the space and everything in it are 404 at once; its slug is freed."""
    now = ctx.now()
    space.deleted_at = now
    space.updated_at = now
    space.slug = f"{space.slug[:60]}-deleted-{secrets.token_hex(4)}"
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id)


async def list_space_members(ctx: Ctx, space: Space, page: PageRequest) -> Page[SpaceMember]:
    """Who is in the space (by contact id)."""
    stmt = sa.select(SpaceMember).where(SpaceMember.space_id == space.id)
    return await paginate(ctx.uow.session, stmt, SpaceMember.contact_id, page, key_attr="contact_id")


async def add_space_member(ctx: Ctx, hub: Hub, space: Space, contact_id: uuid.UUID | None) -> tuple[SpaceMember, bool]:
    """Put a member of the hub in the space (idempotent: ``(row, created)``). 422 for a contact
    that is not a member of the hub."""
    uow = ctx.uow
    member = await uow.session.scalar(sa.select(HubMembership.id).where(
        HubMembership.hub_id == hub.id, HubMembership.contact_id == contact_id, HubMembership.status != "left"))
    if contact_id is None or member is None:
        raise ValidationFailed("This contact is not a member of the hub.", code="not_a_hub_member",
                               field="contact_id")
    existing = await uow.session.get(SpaceMember, (space.id, contact_id))
    if existing is not None:
        return existing, False
    row = SpaceMember(space_id=space.id, contact_id=contact_id, created_at=ctx.now())
    uow.session.add(row)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id, contact_id=contact_id)
    return row, True


async def remove_space_member(ctx: Ctx, hub: Hub, space: Space, contact_id: uuid.UUID | None) -> None:
    """Take a contact out of the space (404 when not in it)."""
    row = await ctx.uow.session.get(SpaceMember, (space.id, contact_id)) if contact_id else None
    if row is None:
        raise NotFound("This contact is not in the space.")
    await ctx.uow.session.delete(row)
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id, contact_id=contact_id)


# ---- member side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSpace:
    """A space as a member sees it in a list: ``locked`` when they may not enter it (and why)."""

    space: Space
    membership: SpaceMember | None
    decision: Decision
    unread_count: int | None  # only for spaces they joined

    @property
    def locked(self) -> bool:
        return not self.decision.allowed


async def member_spaces(ctx: Ctx, member: MemberPrincipal, page: PageRequest, after: str | None) -> Page[MemberSpace]:
    """The spaces the member may know of, in display order: secret spaces they are not in are
    absent (never a short page: filtered in SQL); the rest carry the evaluator's ``view`` decision
    and, for joined spaces, the unread count (one grouped query for the page)."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    loaded = await cache.hub(uow, member.hub_id)
    contact = await cache.contact(uow, loaded, member.contact_id)
    now_overrides = [o for o in contact.overrides if o.active_at(now)]
    full = any(o.scope == "full" for o in now_overrides)
    covered = [o.target.id for o in now_overrides if o.target is not None and o.target.type == "space"]
    sm = SpaceMember
    stmt = (sa.select(Space, sm)
            .outerjoin(sm, sa.and_(sm.space_id == Space.id, sm.contact_id == member.contact_id))
            .where(Space.hub_id == member.hub_id, Space.deleted_at.is_(None)))
    if not full:
        stmt = stmt.where(sa.or_(Space.access_level.in_(("open", "private")), sm.contact_id.is_not(None),
                                 Space.id.in_(covered) if covered else sa.false()))
    rows = await _ordered(uow, stmt, page, after, lambda r: r[0], scalars=False)
    seen = [s for s in await decide_spaces(uow, cache, member, "view", [(r[0], r[1]) for r in rows.items], now)
            if not s.decision.hidden]
    unread = await unread_counts(uow, member, [s.space.id for s in seen if s.membership is not None])
    items = [MemberSpace(s.space, s.membership, s.decision,
                         unread.get(s.space.id, 0) if s.membership is not None else None) for s in seen]
    return Page(items, rows.has_more, rows.next_cursor)


async def member_space(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None) -> MemberSpace:
    """One space as the member sees it now: 404 for a secret space they are not in (or none); a
    private space they may not enter is returned ``locked``."""
    return await _member_space(ctx.uow, ctx.access, member, space_id, ctx.now())


async def join_space(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None) -> MemberSpace:
    """Join a space the member may enter (open, or private/secret when added, or granted by a rule,
    an entitlement or an override). Idempotent. 403 with the evaluator's reason otherwise."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    seen = await _seen(uow, cache, member, space_id, now)
    refuse_unless_allowed(seen.decision)
    if seen.membership is None:
        uow.session.add(SpaceMember(space_id=seen.space.id, contact_id=member.contact_id, created_at=now))
        await uow.session.flush()
        facts_changed(uow, hub_id=member.hub_id, contact_id=member.contact_id)
    return await _member_space(uow, cache, member, seen.space.id, now)


async def leave_space(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None) -> MemberSpace:
    """Leave a space (idempotent). Leaving a private or secret space gives up access to it."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    seen = await _seen(uow, cache, member, space_id, now)
    if seen.decision.hidden:
        raise NotFound("Space not found.")
    if seen.membership is not None:
        await uow.session.delete(seen.membership)
        await uow.session.flush()
        facts_changed(uow, hub_id=member.hub_id, contact_id=member.contact_id)
    return await _member_space(uow, cache, member, seen.space.id, now)


async def set_muted(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None, muted: bool) -> MemberSpace:
    """Mute or unmute a joined space (409 ``not_joined`` otherwise)."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    sm = await _joined(uow, cache, member, space_id, now)
    if muted and sm.muted_at is None:
        sm.muted_at = now
    elif not muted:
        sm.muted_at = None
    await uow.session.flush()
    return await _member_space(uow, cache, member, sm.space_id, now)


async def mark_read(ctx: Ctx, member: MemberPrincipal, space_id: uuid.UUID | None) -> MemberSpace:
    """Everything published in the joined space up to now is read: its unread count drops to 0."""
    uow, cache, now = ctx.uow, ctx.access, ctx.now()
    sm = await _joined(uow, cache, member, space_id, now)
    sm.last_read_at = now
    await uow.session.flush()
    return await _member_space(uow, cache, member, sm.space_id, now)


async def _member_space(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, space_id: uuid.UUID | None,
                        now: datetime) -> MemberSpace:
    """:func:`member_space` at ``now``."""
    seen = await _seen(uow, cache, member, space_id, now)
    if seen.decision.hidden:
        raise NotFound("Space not found.")
    unread = await unread_counts(uow, member, [seen.space.id]) if seen.membership else {}
    return MemberSpace(seen.space, seen.membership, seen.decision,
                       unread.get(seen.space.id, 0) if seen.membership else None)


async def unread_counts(uow: UnitOfWork, member: MemberPrincipal, space_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per joined space: published, live discussions by others newer than the member's
    ``last_read_at`` (or, never read, than when they joined). One grouped query."""
    if not space_ids:
        return {}
    since = sa.func.coalesce(SpaceMember.last_read_at, SpaceMember.created_at)
    rows = await uow.session.execute(
        sa.select(Discussion.space_id, sa.func.count())
        .join(SpaceMember, sa.and_(SpaceMember.space_id == Discussion.space_id,
                                   SpaceMember.contact_id == member.contact_id))
        .where(Discussion.space_id.in_(space_ids), Discussion.status == "published",
               Discussion.removed_at.is_(None), Discussion.deleted_at.is_(None),
               Discussion.author_contact_id != member.contact_id, Discussion.published_at > since)
        .group_by(Discussion.space_id))
    return {space_id: int(n) for space_id, n in rows.all()}


# ---- helpers ------------------------------------------------------------------------------------


async def _seen(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, space_id: uuid.UUID | None,
                now: datetime) -> SpaceSeen:
    row = (await uow.session.execute(
        sa.select(Space, SpaceMember)
        .outerjoin(SpaceMember, sa.and_(SpaceMember.space_id == Space.id, SpaceMember.contact_id == member.contact_id))
        .where(Space.id == space_id, Space.hub_id == member.hub_id, Space.deleted_at.is_(None))
    )).first() if space_id else None
    if row is None:
        raise NotFound("Space not found.")
    return (await decide_spaces(uow, cache, member, "view", [(row[0], row[1])], now))[0]


async def _joined(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, space_id: uuid.UUID | None,
                  now: datetime) -> SpaceMember:
    seen = await _seen(uow, cache, member, space_id, now)
    refuse_unless_allowed(seen.decision)
    if seen.membership is None:
        raise Conflict("Join the space first.", code="not_joined")
    return seen.membership


async def _ordered(uow: UnitOfWork, stmt: Any, page: PageRequest, after: str | None, space_of: Any,
                   *, scalars: bool = True) -> Page[Any]:
    cursor = decode_sort_cursor(_ORDER_TAG, "int", after)
    stmt = stmt.where(rows_after(Space.position, Space.id, cursor, descending=False)) \
        .order_by(Space.position, Space.id).limit(page.size + 1)
    result = await uow.session.execute(stmt)
    rows = list(result.scalars().all()) if scalars else [tuple(r) for r in result.all()]
    return page_of(rows, page.size, lambda r: encode_sort_cursor(_ORDER_TAG, space_of(r).position, space_of(r).id))


def _name(name: Any) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise ValidationFailed("A space needs a name of 1 to 200 characters.", code="invalid_name",
                               field="name")
    return name


def _description(value: Any) -> str | None:
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise ValidationFailed(f"The description is at most {MAX_DESCRIPTION} characters.", code="too_long",
                               field="description")
    return value  # type: ignore[no-any-return]


def _choice(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationFailed(f"{field} is one of {', '.join(allowed)}.", code="invalid_value",
                               field=field)
    return str(value)


def _position(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -1_000_000 <= value <= 1_000_000:
        raise ValidationFailed("position is an integer from -1000000 to 1000000.", code="invalid_value",
                               field="position")
    return value


async def _segment(uow: UnitOfWork, hub: Hub, value: Any) -> uuid.UUID | None:
    """A segment of the hub's team, or None; 422 ``unknown_segment`` otherwise."""
    if value is None:
        return None
    try:
        segment_id = uuid.UUID(str(value))
    except ValueError:
        segment_id = None
    found = segment_id and await uow.session.scalar(
        sa.select(Segment.id).where(Segment.id == segment_id, Segment.team_id == hub.team_id))
    if not found:
        raise ValidationFailed("No such segment in this team.", code="unknown_segment", field="segment_id")
    return segment_id


def _check_slug(slug: Any) -> None:
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValidationFailed("A slug is 1–100 lowercase letters, digits and inner hyphens.",
                               code="invalid_slug", field="slug")


def _slug_from(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].rstrip("-") or "space"


async def _slug_taken(uow: UnitOfWork, hub_id: uuid.UUID, slug: str, except_id: uuid.UUID | None) -> bool:
    stmt = sa.select(Space.id).where(Space.hub_id == hub_id, Space.slug == slug)
    if except_id is not None:
        stmt = stmt.where(Space.id != except_id)
    return await uow.session.scalar(stmt) is not None


async def _free_slug(uow: UnitOfWork, hub_id: uuid.UUID, base: str) -> str:
    slug = base
    while await _slug_taken(uow, hub_id, slug, None):
        slug = f"{base[:70].rstrip('-')}-{secrets.token_hex(3)}"
    return slug


def _slug_conflict() -> Conflict:
    return Conflict("This hub already has a space with this slug.", code="slug_taken", field="slug")


async def _flush(uow: UnitOfWork, add: Any) -> None:
    """Flush in a savepoint: a concurrent request that took the same slug first is a 409."""
    try:
        async with uow.session.begin_nested():
            add()
            await uow.session.flush()
    except sa.exc.IntegrityError:
        raise _slug_conflict() from None
