"""Access: what a contact holds (entitlements), what a target requires (access rules), and
per-contact exceptions (overrides). Rules point at hubs, spaces and content nodes by type and id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column
from persistence.types import JSONType


class Entitlement(Base):
    """What a contact holds in a hub, for a window of time, from some source."""

    __tablename__ = "entitlements"
    __table_args__ = (
        sa.Index("ix_entitlements_hub_contact", "hub_id", "contact_id"),
        sa.Index("ix_entitlements_ends_at", "ends_at"),  # the lapse job's look for what just ended
    )
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    target_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    source: Mapped[str] = mapped_column(sa.String(30))
    source_id: Mapped[str | None] = mapped_column(sa.String(100))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(500))
    granted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AccessRule(Base):
    """Conditions a member must meet to reach a target (and everything under it)."""

    __tablename__ = "access_rules"
    __table_args__ = (sa.Index("ix_access_rules_hub_target", "hub_id", "target_type", "target_id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(sa.String(30))
    target_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    logic_operator: Mapped[str] = mapped_column(sa.String(10), default="all")
    conditions: Mapped[list[Any]] = mapped_column(JSONType)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AccessOverride(Base):
    """A per-contact exception: full access to the hub, or to one target, until ``expires_at``."""

    __tablename__ = "access_overrides"
    __table_args__ = (sa.Index("ix_access_overrides_hub_contact", "hub_id", "contact_id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(sa.String(20))
    target_type: Mapped[str | None] = mapped_column(sa.String(30))
    target_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    expires_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
