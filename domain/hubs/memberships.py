"""Hub memberships: a contact belongs to a hub with a role and a status.

Team side: add a contact (by contact id or email), read and list memberships, change the role,
notification preferences and onboarding state, moderate (ban, unban, soft-ban, warn, each with an
audit row and an event), and mint member tokens for integrations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contacts import ensure_contact, ensure_team_contact
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import (
    MemberJoined,
    MemberRoleChanged,
    MemberStatusChanged,
    MemberWarned,
    contact_channel,
    emit,
    team_channel,
)
from domain.filters import filter_choice
from domain.hubs.service import check_json_object, merge_patch
from domain.identity.members import effective_status, issue_member_token
from domain.identity.principals import ApiKeyPrincipal
from domain.identity.tokens import TokenService
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import (
    Contact,
    Hub,
    HubMembership,
    MembershipAction,
    PolicyAcceptance,
    TeamContact,
)
from persistence.pagination import Page, PageRequest, paginate

MEMBER_ROLES = ("member", "moderator", "admin")
ROLE_RANK = {"member": 1, "moderator": 2, "admin": 3}
STATUSES = ("active", "banned", "soft_banned", "left")
DEFAULT_NOTIFICATION_PREFERENCES = {"email_digest": "weekly", "mentions": True, "replies": True,
                                    "direct_messages": True, "announcements": True}


async def ensure_membership(uow: UnitOfWork, now: datetime, hub: Hub, contact: Contact, *,
                            role: str = "member") -> tuple[HubMembership, bool]:
    """The contact's membership of ``hub``, created (joined at ``now``) when new (``member.joined``
    on the team channel, after commit). A membership that was ``left`` becomes active again; a
    banned one stays banned. Returns (membership, joined now)."""
    s = uow.session
    existing = await s.scalar(
        sa.select(HubMembership).where(HubMembership.hub_id == hub.id, HubMembership.contact_id == contact.id)
    )
    if existing is not None:
        if existing.status != "left":
            return existing, False
        existing.status, existing.left_at, existing.joined_at, existing.updated_at = "active", None, now, now
        membership = existing
    else:
        try:
            async with s.begin_nested():
                membership = HubMembership(
                    hub_id=hub.id, contact_id=contact.id, team_id=hub.team_id, role=role, status="active",
                    onboarding={"state": "not_started"}, notification_preferences=dict(DEFAULT_NOTIFICATION_PREFERENCES),
                    profile={}, joined_at=now, created_at=now, updated_at=now,
                )
                s.add(membership)
                await s.flush()
        except sa.exc.IntegrityError:
            found = await s.scalar(
                sa.select(HubMembership).where(HubMembership.hub_id == hub.id, HubMembership.contact_id == contact.id)
            )
            assert found is not None
            return found, False
    await s.flush()
    # team-wide: segments (which rules may name in any hub of the team) look at hub memberships
    facts_changed(uow, team_id=hub.team_id, contact_id=contact.id)
    emit(uow, team_channel(hub.team_id), "member.joined", MemberJoined(
        hub_id=str(hub.id), contact_id=str(contact.id), membership_id=str(membership.id), role=membership.role,
        joined_at=now,
    ), now)
    return membership, True


# ---- team side: add, read, list, update ----------------------------------------------------------

ONBOARDING_STATES = ("not_started", "in_progress", "completed")
MODERATION_ACTIONS = ("ban", "unban", "soft_ban", "warn")
MAX_REASON = 1000


@dataclass(frozen=True)
class MembershipView:
    """A hub membership as the team sees it: the stored row plus what is computed for reading
    (the contact's email, the effective status at ``now``, the latest accepted policy versions)."""

    membership: HubMembership
    email: str
    status: str
    status_reason: str | None
    status_expires_at: datetime | None
    policy_acceptances: dict[str, PolicyAcceptance]

    @property
    def id(self) -> uuid.UUID:
        return self.membership.id


async def add_membership(ctx: Ctx, team: TeamContext, hub: Hub, *, contact_id: str | None = None,
                         email: str | None = None, role: str = "member") -> tuple[MembershipView, bool]:
    """Add a contact to ``hub``, by ``contact_id`` (a contact of this team) or by ``email`` (the
    contact and its team contact are created when new, with source ``hub_membership``).

    An existing membership is returned as it is (its role and status unchanged; a banned member
    stays banned); a membership that was left becomes active again. ``member.joined`` is emitted
    only when the contact joins now. Returns (membership, joined now).
    """
    _check_role(role)
    if (contact_id is None) == (email is None):
        raise ValidationFailed("Send either contact_id or email.", code="missing_field" if contact_id is None
                               else "ambiguous_contact", field="contact_id")
    uow, now = ctx.uow, ctx.now()
    if contact_id is not None:
        contact = await _team_contact(uow, team.team_id, parse_id(contact_id))
        if contact is None:
            raise ValidationFailed("No contact of this team has this id.", code="unknown_contact",
                                   field="contact_id")
    else:
        assert email is not None
        contact = await ensure_contact(uow, now, email)
        team_contact, _ = await ensure_team_contact(uow, now, team.team_id, contact, source="hub_membership")
        if team_contact.deleted_at is not None:
            raise ValidationFailed("This contact was deleted from the team; restore it first.",
                                   code="contact_deleted", field="email")
    membership, joined = await ensure_membership(uow, now, hub, contact, role=role)
    return (await _views(uow, [membership], now))[0], joined


async def get_membership(ctx: Ctx, hub: Hub, contact_id: uuid.UUID | None) -> MembershipView:
    """The membership of ``contact_id`` in ``hub``, or 404."""
    membership = await _membership(ctx.uow, hub, contact_id)
    return (await _views(ctx.uow, [membership], ctx.now()))[0]


async def membership_statuses(ctx: Ctx, hub_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The status now (``effective_status``: a lapsed ban is active) of each of ``contact_ids``
    that has a membership of hub ``hub_id``; contacts without one are left out; ``erased`` for a
    member whose data was erased (domain/crm/data_rights.py). One query, for re-checking live
    sockets after a ban or an access change."""
    now = ctx.now()
    rows = (await ctx.uow.session.execute(
        sa.select(HubMembership).where(HubMembership.hub_id == hub_id,
                                       HubMembership.contact_id.in_(contact_ids)))).scalars().all()
    return {m.contact_id: "erased" if m.status == "left" and (m.profile or {}).get("erased")
            else effective_status(m, now) for m in rows}


async def list_memberships(ctx: Ctx, hub: Hub, page: PageRequest, *, status: str | None = None,
                           role: str | None = None) -> Page[MembershipView]:
    """The hub's memberships in joining order. ``status`` filters on the effective status: a
    lapsed ban counts as active."""
    uow, now = ctx.uow, ctx.now()
    stmt = sa.select(HubMembership).where(HubMembership.hub_id == hub.id)
    if filter_choice(status, "status", STATUSES) is not None:
        lapsed = sa.and_(HubMembership.status.in_(("banned", "soft_banned")),
                         HubMembership.status_expires_at.is_not(None), HubMembership.status_expires_at <= now)
        if status == "active":
            stmt = stmt.where(sa.or_(HubMembership.status == "active", lapsed))
        else:
            stmt = stmt.where(HubMembership.status == status, sa.not_(lapsed))
    if filter_choice(role, "role", MEMBER_ROLES) is not None:
        stmt = stmt.where(HubMembership.role == role)
    page_ = await paginate(uow.session, stmt, HubMembership.id, page)
    return Page(await _views(uow, page_.items, now), page_.has_more, page_.next_cursor)


async def update_membership(ctx: Ctx, hub: Hub, contact_id: uuid.UUID | None,
                            changes: Mapping[str, Any]) -> MembershipView:
    """Change ``role``, and merge ``notification_preferences`` and ``onboarding`` (the JSON Merge
    Patch rule, as for hubs). A role change emits ``member.role_changed``."""
    uow = ctx.uow
    membership = await _membership(uow, hub, contact_id, lock=True)
    now = ctx.now()
    if "role" in changes:
        role = changes["role"]
        _check_role(role)
        if role != membership.role:
            previous, membership.role = membership.role, role
            facts_changed(uow, hub_id=hub.id, contact_id=membership.contact_id)
            event = MemberRoleChanged(hub_id=str(hub.id), contact_id=str(membership.contact_id), role=role,
                                      previous_role=previous)
            for channel in (team_channel(hub.team_id), contact_channel(membership.contact_id)):
                emit(uow, channel, "member.role_changed", event, now)
    for field in ("notification_preferences", "onboarding"):
        patch = changes.get(field)
        if patch is not None:
            check_json_object(patch, field)
            merged = merge_patch(getattr(membership, field) or {}, patch)
            check_json_object(merged, field)
            setattr(membership, field, merged)
    state = (membership.onboarding or {}).get("state")
    if "onboarding" in changes and state is not None and state not in ONBOARDING_STATES:
        raise ValidationFailed(f"onboarding.state must be one of {', '.join(ONBOARDING_STATES)}.",
                               code="invalid_onboarding_state", field=("onboarding", "state"))
    membership.updated_at = now
    await uow.session.flush()
    return (await _views(uow, [membership], now))[0]


# ---- moderation -----------------------------------------------------------------------------------


async def moderate_member(ctx: Ctx, team: TeamContext, hub: Hub, contact_id: uuid.UUID | None, action: str, *,
                          reason: str, expires_at: datetime | None = None) -> tuple[MembershipView, MembershipAction]:
    """Ban, unban, soft-ban or warn a member, with a reason and an optional expiry.

    Writes a MembershipAction audit row naming the acting user or API key of ``team``, sets the status
    (ban → banned, soft_ban → soft_banned, unban → active; warn keeps it) and emits
    ``member.<banned|soft_banned|unbanned|warned>`` on the team and contact channels after commit.
    A ban takes effect on the member's next request: member tokens check the membership each time.
    """
    if action not in MODERATION_ACTIONS:
        raise ValueError(f"unknown moderation action {action!r}")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(f"A reason of 1 to {MAX_REASON} characters is required.", code="invalid_reason",
                               field="reason")
    uow, now = ctx.uow, ctx.now()
    if expires_at is not None:
        if action == "unban":
            raise ValidationFailed("An unban has no expiry.", code="expiry_not_allowed", field="expires_at")
        if expires_at.tzinfo is None:
            raise ValidationFailed("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z).", code="invalid_datetime",
                                   field="expires_at")
        if expires_at <= now:
            raise ValidationFailed("expires_at must be in the future.", code="expires_in_past",
                                   field="expires_at")
    membership = await _membership(uow, hub, contact_id, lock=True)
    current = effective_status(membership, now)
    if action == "unban" and current not in ("banned", "soft_banned"):
        raise Conflict("This member is not banned.", code="not_banned")
    if action in ("ban", "soft_ban"):
        membership.status = "banned" if action == "ban" else "soft_banned"
        membership.status_reason, membership.status_expires_at = reason, expires_at
    elif action == "unban":
        membership.status, membership.status_reason, membership.status_expires_at = "active", None, None
    if action == "unban":  # lifted before the members hear of it: one acting on the event finds it lifted
        facts_changed(uow, team_id=hub.team_id, contact_id=membership.contact_id)
    membership.updated_at = now
    principal = team.principal
    record = MembershipAction(
        hub_id=hub.id, contact_id=membership.contact_id, action=action, reason=reason, expires_at=expires_at,
        actor_user_id=team.user_id,
        actor_api_key_id=principal.key_id if isinstance(principal, ApiKeyPrincipal) else None,
        created_at=now,
    )
    uow.session.add(record)
    await uow.session.flush()
    name, data = _moderation_event(action, hub, membership.contact_id, reason, expires_at)
    for channel in (team_channel(hub.team_id), contact_channel(membership.contact_id)):
        emit(uow, channel, name, data, now)
    if action in ("ban", "soft_ban"):
        # A restriction is told before it is enforced: queued after the events, the invalidation is
        # published after them (after-commit callbacks run in order), so an instance queues the
        # member.banned frame to the member's sockets before it re-checks and closes them with 4403.
        # (With HUBWIRE_REDIS_SHARDS the two travel on different nodes: the gateway reads the
        # contact channel's history before closing, Gateway.catch_up.)
        # (Team-wide: segments count only active and soft-banned memberships.)
        facts_changed(uow, team_id=hub.team_id, contact_id=membership.contact_id)
    return (await _views(uow, [membership], now))[0], record


async def list_membership_actions(ctx: Ctx, hub: Hub, contact_id: uuid.UUID | None,
                                  page: PageRequest) -> Page[MembershipAction]:
    """The moderation audit trail of one member of ``hub``, oldest first (404 when not a member)."""
    membership = await _membership(ctx.uow, hub, contact_id)
    stmt = sa.select(MembershipAction).where(MembershipAction.hub_id == hub.id,
                                             MembershipAction.contact_id == membership.contact_id)
    return await paginate(ctx.uow.session, stmt, MembershipAction.id, page)


def _moderation_event(action: str, hub: Hub, contact_id: uuid.UUID, reason: str,
                      expires_at: datetime | None) -> tuple[str, Any]:
    if action == "warn":
        return "member.warned", MemberWarned(hub_id=str(hub.id), contact_id=str(contact_id), reason=reason,
                                             expires_at=expires_at)
    status = {"ban": "banned", "soft_ban": "soft_banned", "unban": "active"}[action]
    name = {"ban": "member.banned", "soft_ban": "member.soft_banned", "unban": "member.unbanned"}[action]
    return name, MemberStatusChanged(hub_id=str(hub.id), contact_id=str(contact_id), status=status,
                                     reason=reason, expires_at=expires_at)


# ---- member tokens --------------------------------------------------------------------------------


async def mint_member_token(ctx: Ctx, hub: Hub, contact_id: str, *,
                            tokens: TokenService) -> tuple[str, datetime, HubMembership]:
    """A member token (issued by ``tokens``) for a member of ``hub`` (for integrations and testing).
    422 ``not_a_member`` unless the contact has a membership that was not left; 422 ``member_banned``
    while banned."""
    parsed = parse_id(contact_id)
    membership = await ctx.uow.session.scalar(
        sa.select(HubMembership).where(HubMembership.hub_id == hub.id, HubMembership.contact_id == parsed)
    ) if parsed else None
    status = effective_status(membership, ctx.now()) if membership is not None else None
    if membership is None or status == "left":
        raise ValidationFailed("This contact is not a member of the hub.", code="not_a_member",
                               field="contact_id")
    if status == "banned":
        raise ValidationFailed("This member is banned from the hub.", code="member_banned",
                               field="contact_id")
    token, expires_at = issue_member_token(tokens, contact_id=membership.contact_id, hub_id=hub.id)
    return token, expires_at, membership


# ---- helpers --------------------------------------------------------------------------------------


def _check_role(role: str) -> None:
    if role not in MEMBER_ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(MEMBER_ROLES)}.", code="invalid_role",
                               field="role")


async def _team_contact(uow: UnitOfWork, team_id: uuid.UUID, contact_id: uuid.UUID | None) -> Contact | None:
    """The contact, if it is a (not deleted) contact of the team."""
    if contact_id is None:
        return None
    return await uow.session.scalar(
        sa.select(Contact).join(TeamContact, TeamContact.contact_id == Contact.id)
        .where(Contact.id == contact_id, TeamContact.team_id == team_id, TeamContact.deleted_at.is_(None))
    )


async def _membership(uow: UnitOfWork, hub: Hub, contact_id: uuid.UUID | None, *, lock: bool = False) -> HubMembership:
    if contact_id is None:
        raise NotFound("Membership not found.")
    stmt = sa.select(HubMembership).where(HubMembership.hub_id == hub.id, HubMembership.contact_id == contact_id)
    membership = await uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if membership is None:
        raise NotFound("Membership not found.")
    return membership


async def _views(uow: UnitOfWork, memberships: list[HubMembership], now: datetime) -> list[MembershipView]:
    """Read views for ``memberships`` in two queries (emails, acceptances), whatever their number."""
    if not memberships:
        return []
    s = uow.session
    rows = await s.execute(
        sa.select(Contact.id, Contact.email).where(Contact.id.in_([m.contact_id for m in memberships]))
    )
    emails = {contact_id: email for contact_id, email in rows.all()}
    latest: dict[uuid.UUID, dict[str, PolicyAcceptance]] = {}
    acceptances = await s.scalars(
        sa.select(PolicyAcceptance).where(PolicyAcceptance.membership_id.in_([m.id for m in memberships]))
        .order_by(PolicyAcceptance.version)
    )
    for a in acceptances.all():
        latest.setdefault(a.membership_id, {})[a.policy_type] = a  # ordered by version: the last wins
    views = []
    for m in memberships:
        status = effective_status(m, now)
        lapsed = status != m.status  # a ban that ran out reads as active, without its old reason
        views.append(MembershipView(
            membership=m, email=emails.get(m.contact_id, ""), status=status,
            status_reason=None if lapsed else m.status_reason,
            status_expires_at=None if lapsed else m.status_expires_at,
            policy_acceptances=latest.get(m.id, {}),
        ))
    return views
