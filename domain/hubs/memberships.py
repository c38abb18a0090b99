"""Hub memberships: a contact belongs to a hub with a role and a status."""

from __future__ import annotations

import sqlalchemy as sa

from domain.clock import Clock
from domain.events import MemberJoined, emit, team_channel
from persistence.db import UnitOfWork
from persistence.models import Contact, Hub, HubMembership

MEMBER_ROLES = ("member", "moderator", "admin")
ROLE_RANK = {"member": 1, "moderator": 2, "admin": 3}
STATUSES = ("active", "banned", "soft_banned", "left")
DEFAULT_NOTIFICATION_PREFERENCES = {"email_digest": "weekly", "mentions": True, "replies": True,
                                    "direct_messages": True, "announcements": True}


async def ensure_membership(uow: UnitOfWork, clock: Clock, hub: Hub, contact: Contact, *,
                            role: str = "member") -> tuple[HubMembership, bool]:
    """The contact's membership of ``hub``, created when new (``member.joined`` on the team channel,
    after commit). A membership that was ``left`` becomes active again; a banned one stays banned.
    Returns (membership, joined now)."""
    s = uow.session
    existing = await s.scalar(
        sa.select(HubMembership).where(HubMembership.hub_id == hub.id, HubMembership.contact_id == contact.id)
    )
    now = clock.now()
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
    emit(uow, team_channel(hub.team_id), "member.joined", MemberJoined(
        hub_id=str(hub.id), contact_id=str(contact.id), membership_id=str(membership.id), role=membership.role,
        joined_at=now,
    ), now)
    return membership, True
