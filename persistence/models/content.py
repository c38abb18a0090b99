"""Content: the tree of a hub's courses, modules and lessons (which access rules and comments point
at), and each member's progress through it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column
from persistence.types import JSONType


class ContentNode(Base):
    """A node of a hub's content tree (course, module, lesson, ...). ``body`` is sanitized HTML
    (domain/content/sanitize.py); ``slug`` is unique among the hub's live nodes (checked by the
    domain); ``status`` is ``draft`` or ``published``; ``deleted_at`` marks a soft delete."""

    __tablename__ = "content_nodes"
    __table_args__ = (sa.Index("ix_content_nodes_hub_parent", "hub_id", "parent_id"),
                      sa.Index("ix_content_nodes_hub_slug", "hub_id", "slug"))
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("content_nodes.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    slug: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    node_type: Mapped[str] = mapped_column(sa.String(30), default="lesson")
    body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="draft", server_default="draft")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ContentProgress(Base):
    """A member's completion of one node: one row per (node, contact); ``completed_at`` None when
    they marked it incomplete again. ``updated_at`` tells where they left off."""

    __tablename__ = "content_progress"
    __table_args__ = (sa.UniqueConstraint("node_id", "contact_id", name="uq_content_progress_node_contact"),
                      sa.Index("ix_content_progress_hub_contact", "hub_id", "contact_id"))
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    node_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("content_nodes.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Page(Base):
    """A hub's page: a draft (``title``, ``body``, numbered by ``draft_version``, which every write
    bumps) and the version last published (``published_*``). ``privacy``: ``public`` (no token
    needed), ``members`` or ``private``. Pages nest (``parent_id``, ``position`` among siblings); one
    live page per hub may be its home page (``is_home``, kept unique by the domain)."""

    __tablename__ = "pages"
    __table_args__ = (sa.Index("ix_pages_hub_parent", "hub_id", "parent_id"),
                      sa.Index("ix_pages_hub_slug", "hub_id", "slug"))
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("pages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    slug: Mapped[str] = mapped_column(sa.String(200))
    privacy: Mapped[str] = mapped_column(sa.String(20), default="members")
    is_home: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str | None] = mapped_column(sa.Text)
    draft_version: Mapped[int] = mapped_column(default=1)
    published_title: Mapped[str | None] = mapped_column(sa.String(300))
    published_body: Mapped[str | None] = mapped_column(sa.Text)
    published_version: Mapped[int | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class PageSection(Base):
    """A section of a page: part of the page's draft (``title``, ``body``, ``position`` among the
    page's live sections; every write bumps the page's ``draft_version``) and, once the page is
    published, the version on the published page (``published_*``; null until then, and again
    after a deleted section's page is published). A section can be gated on its own: access rules
    take ``target_type`` ``section`` (under its page, which is under the hub)."""

    __tablename__ = "page_sections"
    __table_args__ = (sa.Index("ix_page_sections_page_position", "page_id", "position"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    page_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("pages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str | None] = mapped_column(sa.Text)
    published_title: Mapped[str | None] = mapped_column(sa.String(300))
    published_body: Mapped[str | None] = mapped_column(sa.Text)
    published_position: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class MediaFolder(Base):
    """A team's folder of files; folders nest (``parent_id``)."""

    __tablename__ = "media_folders"
    __table_args__ = (sa.Index("ix_media_folders_team_parent", "team_id", "parent_id"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("media_folders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class MediaFile(Base):
    """An uploaded file of a team: its bytes are in the media store under ``storage_key`` (never
    derived from the name); ``content_type`` was read from the bytes; ``hub_id`` is the hub whose
    members may be given it (through the access evaluator, target ``media``)."""

    __tablename__ = "media_files"
    __table_args__ = (sa.Index("ix_media_files_team_folder", "team_id", "folder_id"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    hub_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("hubs.id", ondelete="SET NULL"), index=True)
    folder_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("media_folders.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    checksum_sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
