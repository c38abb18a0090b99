"""Hubs and hub memberships: a team's hubs, their policies (versions, acceptances) and email sender,
the membership of each contact in a hub, and the moderation actions taken on memberships."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column


class Hub(Base):
    __tablename__ = "hubs"
    __table_args__ = (sa.UniqueConstraint("team_id", "slug"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    is_private: Mapped[bool] = mapped_column(default=False)
    branding: Mapped[dict[str, Any]]
    navigation: Mapped[dict[str, Any]]
    settings: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]]
    allowed_redirect_origins: Mapped[list[str]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class HubPolicy(Base):
    """The current terms / privacy policy of a hub; every content change bumps ``version``."""

    __tablename__ = "hub_policies"
    __table_args__ = (sa.UniqueConstraint("hub_id", "policy_type"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    policy_type: Mapped[str] = mapped_column(sa.String(30))
    content: Mapped[str] = mapped_column(sa.Text)
    version: Mapped[int]
    require_acceptance: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class HubPolicyVersion(Base):
    __tablename__ = "hub_policy_versions"
    __table_args__ = (sa.UniqueConstraint("policy_id", "version"),)
    id: Mapped[uuid.UUID] = id_column()
    policy_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hub_policies.id", ondelete="CASCADE"))
    version: Mapped[int]
    content: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class HubEmailSender(Base):
    __tablename__ = "hub_email_senders"
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"), primary_key=True)
    from_name: Mapped[str | None] = mapped_column(sa.String(200))
    from_email: Mapped[str | None] = mapped_column(sa.String(320))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    updated_at: Mapped[datetime]


class HubMembership(Base):
    __tablename__ = "hub_memberships"
    __table_args__ = (sa.UniqueConstraint("hub_id", "contact_id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20), default="member")
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    status_expires_at: Mapped[datetime | None]
    onboarding: Mapped[dict[str, Any]]
    notification_preferences: Mapped[dict[str, Any]]
    profile: Mapped[dict[str, Any]]
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PolicyAcceptance(Base):
    __tablename__ = "policy_acceptances"
    __table_args__ = (sa.UniqueConstraint("membership_id", "policy_type", "version"),)
    id: Mapped[uuid.UUID] = id_column()
    membership_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hub_memberships.id", ondelete="CASCADE"))
    policy_type: Mapped[str] = mapped_column(sa.String(30))
    version: Mapped[int]
    accepted_at: Mapped[datetime]


class MembershipAction(Base):
    """Audit record of a moderation action on a hub membership (ban, unban, soft-ban, warn, ...)."""

    __tablename__ = "membership_actions"
    __table_args__ = (sa.Index("ix_membership_actions_hub_contact", "hub_id", "contact_id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(30))
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    expires_at: Mapped[datetime | None]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
