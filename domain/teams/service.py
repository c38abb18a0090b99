"""Team use cases: create, read, update, delete teams; add and remove staff members.

Every lookup is scoped to the caller: a team the caller does not belong to is "not found", never
"forbidden", so no one learns another tenant exists.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from domain.context import Ctx
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.identity.principals import ApiKeyPrincipal, Principal, StaffPrincipal
from domain.teams.permissions import (
    ROLE_SCOPES,
    ROLES,
    expand,
    role_allows,
    scopes_allow,
)
from persistence.db import UnitOfWork
from persistence.models import Team, TeamMember, User
from persistence.pagination import Page, PageRequest, encode_cursor, page_of, paginate

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


@dataclass(frozen=True)
class TeamContext:
    """The caller inside one team: what route handlers and domain functions act on behalf of."""

    team: Team
    principal: Principal
    role: str | None  # staff role; None for an API key
    scopes: frozenset[str]

    @property
    def team_id(self) -> uuid.UUID:
        return self.team.id

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.principal.user_id if isinstance(self.principal, StaffPrincipal) else None


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].rstrip("-")  # cut may end on "-"
    return slug or "team"


async def resolve_team(ctx: Ctx, principal: Principal, team_id: uuid.UUID | None, scope: str) -> TeamContext:
    """Load the team for ``principal`` and check ``scope``: 404 when not theirs, 403 when not allowed."""
    s = ctx.uow.session
    if team_id is None:
        raise NotFound("Team not found.")
    if isinstance(principal, ApiKeyPrincipal):
        if principal.team_id != team_id:
            team = None
        elif principal.team is not None:
            team = principal.team
        else:
            team = await s.get(Team, team_id)
        if team is None or team.deleted_at is not None:
            raise NotFound("Team not found.")
        if not scopes_allow(principal.scopes, scope):
            raise Forbidden(f"This API key lacks the `{scope}` scope.", code="insufficient_scope",
                            meta={"required_scope": scope})
        return TeamContext(team=team, principal=principal, role=None, scopes=expand(principal.scopes))
    row = (
        await s.execute(
            sa.select(Team, TeamMember.role)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(Team.id == team_id, TeamMember.user_id == principal.user_id, Team.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        raise NotFound("Team not found.")
    team, role = row
    if not role_allows(role, scope):
        raise Forbidden(f"Your role ({role}) does not allow this.", code="insufficient_role",
                        meta={"required_scope": scope, "role": role})
    return TeamContext(team=team, principal=principal, role=role, scopes=ROLE_SCOPES[role])


async def create_team(ctx: Ctx, *, owner_id: uuid.UUID, name: str, slug: str | None = None,
                      is_personal: bool = False) -> Team:
    """A new team owned by ``owner_id`` (``slug`` generated from the name when absent)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A team needs a name of 1 to 200 characters.", code="invalid_name",
                               field="name")
    s = ctx.uow.session
    if slug is not None:
        _check_slug(slug)
        if await s.scalar(sa.select(Team.id).where(Team.slug == slug)) is not None:
            raise Conflict("This slug is taken.", code="slug_taken", field="slug")
    else:
        slug = await _free_slug(ctx.uow, slugify(name))
    now = ctx.now()
    team = Team(name=name, slug=slug, is_personal=is_personal, created_at=now, updated_at=now)
    s.add(team)
    await s.flush()
    s.add(TeamMember(team_id=team.id, user_id=owner_id, role="owner", created_at=now))
    await s.flush()
    return team


async def list_teams(ctx: Ctx, principal: Principal, page: PageRequest) -> Page[Team]:
    """The teams ``principal`` belongs to (an API key: its own team), in creation order."""
    stmt = sa.select(Team).where(Team.deleted_at.is_(None))
    if isinstance(principal, ApiKeyPrincipal):
        if not scopes_allow(principal.scopes, "teams:read"):  # the same rule as GET /teams/{id}
            raise Forbidden("This API key lacks the `teams:read` scope.", code="insufficient_scope",
                            meta={"required_scope": "teams:read"})
        stmt = stmt.where(Team.id == principal.team_id)
    else:
        stmt = stmt.join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == principal.user_id)
    return await paginate(ctx.uow.session, stmt, Team.id, page)


PAYMENT_PROVIDERS = ("manual", "stripe")


async def update_team(ctx: Ctx, team: TeamContext, *, name: str | None = None,
                      slug: str | None = None, payment_provider: str | None = None) -> Team:
    """Rename ``team``, change its slug, or choose how its paid checkouts are paid
    (``payment_provider``: ``manual`` or ``stripe``); only what is given changes."""
    row = team.team
    if payment_provider is not None:
        if payment_provider not in PAYMENT_PROVIDERS:
            raise ValidationFailed(f"payment_provider is one of {', '.join(PAYMENT_PROVIDERS)}.",
                                   code="invalid_payment_provider", field="payment_provider")
        row.payment_provider = payment_provider
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationFailed("A team needs a name of 1 to 200 characters.", code="invalid_name",
                                   field="name")
        row.name = name
    if slug is not None and slug != row.slug:
        _check_slug(slug)
        taken = await ctx.uow.session.scalar(sa.select(Team.id).where(Team.slug == slug, Team.id != row.id))
        if taken is not None:
            raise Conflict("This slug is taken.", code="slug_taken", field="slug")
        row.slug = slug
    row.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return row


async def delete_team(ctx: Ctx, team: TeamContext) -> None:
    """Soft delete: the team disappears at once for everyone; its rows stay for recovery."""
    team.team.deleted_at = ctx.now()
    team.team.slug = f"{team.team.slug[:60]}-deleted-{secrets.token_hex(4)}"  # free the slug for reuse
    await ctx.uow.session.flush()


@dataclass(frozen=True)
class Member:
    team_id: uuid.UUID
    user: User
    role: str
    joined_at: datetime

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


async def list_members(ctx: Ctx, team: TeamContext, page: PageRequest) -> Page[Member]:
    """The team's staff members, by user id."""
    stmt = (
        sa.select(User, TeamMember.role, TeamMember.created_at)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.team_id)
    )
    if page.after is not None:
        stmt = stmt.where(User.id > page.after)
    rows = (await ctx.uow.session.execute(stmt.order_by(User.id).limit(page.size + 1))).all()
    members = [Member(team.team_id, u, role, joined) for u, role, joined in rows]
    return page_of(members, page.size, lambda m: encode_cursor(m.id))


async def add_member(ctx: Ctx, team: TeamContext, *, email: str, role: str) -> Member:
    """Add an existing staff user to the team. Only an owner may make another owner."""
    _check_role(role)
    if role == "owner" and team.role != "owner":
        raise Forbidden("Only an owner can add another owner.", code="owner_required")
    s = ctx.uow.session
    user = await s.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise ValidationFailed("No staff account uses this email; ask them to register first.",
                               code="user_not_found", field="email")
    existing = await s.get(TeamMember, (team.team_id, user.id))
    if existing is not None:
        raise Conflict("This user is already a member of the team.", code="already_member",
                       field="email")
    now = ctx.now()
    s.add(TeamMember(team_id=team.team_id, user_id=user.id, role=role, created_at=now))
    await s.flush()
    return Member(team.team_id, user, role, now)


async def get_member(ctx: Ctx, team: TeamContext, user_id: uuid.UUID | None) -> Member:
    """One staff member of the team, or 404."""
    if user_id is None:
        raise NotFound("Member not found.")
    row = (
        await ctx.uow.session.execute(
            sa.select(User, TeamMember.role, TeamMember.created_at)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team.team_id, User.id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound("Member not found.")
    return Member(team.team_id, row[0], row[1], row[2])


async def remove_member(ctx: Ctx, team: TeamContext, user_id: uuid.UUID | None) -> None:
    """Remove a member. Admins may remove non-owners; owners anyone; the last owner stays.

    "The last owner stays" must hold when two owners remove each other at once: each would count
    two owners and both deletes would go through. So the member is read and the owners counted
    only under the team's owner lock; anything that can take an owner away must take it too.
    """
    await _lock_owners(ctx.uow, team.team_id)
    member = await get_member(ctx, team, user_id)
    if member.role == "owner":
        if team.role != "owner":
            raise Forbidden("Only an owner can remove an owner.", code="owner_required")
        owners = await ctx.uow.session.scalar(
            sa.select(sa.func.count()).select_from(TeamMember)
            .where(TeamMember.team_id == team.team_id, TeamMember.role == "owner")
        )
        if owners <= 1:
            raise Conflict("A team keeps at least one owner.", code="last_owner")
    await ctx.uow.session.execute(
        sa.delete(TeamMember).where(TeamMember.team_id == team.team_id, TeamMember.user_id == member.user.id)
    )


async def _lock_owners(uow: UnitOfWork, team_id: uuid.UUID) -> None:
    """Lock the team's row until the transaction ends, before reading and counting its owners, so
    that changes which could leave the team without one run one after the other.

    One row per team, taken first, so two of them cannot deadlock. ``FOR NO KEY UPDATE`` leaves
    alone the key-share locks that inserts referencing the team take. SQLite has no row locks and
    needs none: every transaction there begins IMMEDIATE (persistence/db.py), so writers are
    already serialized from their first statement.
    """
    await uow.session.execute(
        sa.select(Team.id).where(Team.id == team_id).with_for_update(key_share=True)
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}.", code="invalid_role",
                               field="role")


def _check_slug(slug: str) -> None:
    if not _SLUG.match(slug):
        raise ValidationFailed("A slug is 1–100 lowercase letters, digits and inner hyphens.",
                               code="invalid_slug", field="slug")


async def _free_slug(uow: UnitOfWork, base: str) -> str:
    slug = base
    while await uow.session.scalar(sa.select(Team.id).where(Team.slug == slug)) is not None:
        slug = f"{base[:70].rstrip('-')}-{secrets.token_hex(3)}"
    return slug



async def roles_of(ctx: Ctx, principal: Principal, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The caller's role in each of ``team_ids`` (empty for an API key)."""
    if not team_ids or not isinstance(principal, StaffPrincipal):
        return {}
    rows = await ctx.uow.session.execute(
        sa.select(TeamMember.team_id, TeamMember.role)
        .where(TeamMember.user_id == principal.user_id, TeamMember.team_id.in_(team_ids))
    )
    return {team_id: role for team_id, role in rows.all()}
