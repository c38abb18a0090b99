"""Content: the tree of a hub's courses, modules and lessons, which access rules and comments
point at."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column


class ContentNode(Base):
    """A node of a hub's content tree (course, module, lesson, ...); the content issue extends it."""

    __tablename__ = "content_nodes"
    __table_args__ = (sa.Index("ix_content_nodes_hub_parent", "hub_id", "parent_id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("content_nodes.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    node_type: Mapped[str] = mapped_column(sa.String(30), default="lesson")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
