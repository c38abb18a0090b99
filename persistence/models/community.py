"""Community: spaces and their members, discussions, comments, reactions, direct conversations
with their messages, the report queue and the moderation log."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column


class Space(Base):
    """A community space in a hub."""

    __tablename__ = "spaces"
    __table_args__ = (sa.UniqueConstraint("hub_id", "slug"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    access_level: Mapped[str] = mapped_column(sa.String(20), default="open")
    posting_permission: Mapped[str] = mapped_column(sa.String(20), default="members")
    segment_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("segments.id", ondelete="SET NULL"))
    is_pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    is_default: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class SpaceMember(Base):
    """A contact in a space: joined, muted, and how far they have read."""

    __tablename__ = "space_members"
    space_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]
    muted_at: Mapped[datetime | None]
    last_read_at: Mapped[datetime | None]


class Discussion(Base):
    __tablename__ = "discussions"
    __table_args__ = (
        sa.Index("ix_discussions_space_feed", "space_id", "status", "id"),
        sa.Index("ix_discussions_hub_activity", "hub_id", "status", "last_activity_at"),
        sa.Index("ix_discussions_due", "status", "publish_at"),
    )
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    space_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("spaces.id", ondelete="CASCADE"))
    author_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="published")
    publish_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    is_pinned: Mapped[bool] = mapped_column(default=False)
    is_locked: Mapped[bool] = mapped_column(default=False)
    comment_count: Mapped[int] = mapped_column(default=0)
    last_activity_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removal_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Comment(Base):
    """A comment on a discussion (or, later, a content node); ``parent_id`` threads replies."""

    __tablename__ = "comments"
    __table_args__ = (sa.Index("ix_comments_discussion", "discussion_id", "id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    discussion_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("discussions.id", ondelete="CASCADE"))
    content_node_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("content_nodes.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("comments.id", ondelete="CASCADE"))
    author_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(sa.Text)
    edited_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removal_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Reaction(Base):
    """One row per (member, target, emoji): PUT is idempotent."""

    __tablename__ = "reactions"
    __table_args__ = (
        sa.UniqueConstraint("target_type", "target_id", "contact_id", "emoji"),
        sa.Index("ix_reactions_target", "target_type", "target_id"),
    )
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(sa.String(20))
    target_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    emoji: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]


class Conversation(Base):
    """Direct messages between two or more members of a hub. A one-to-one conversation has a
    ``direct_key`` (the two contact ids, sorted) so there is never a second one."""

    __tablename__ = "conversations"
    __table_args__ = (sa.UniqueConstraint("hub_id", "direct_key"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    direct_key: Mapped[str | None] = mapped_column(sa.String(80))
    created_by_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    last_message_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_read_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    last_read_at: Mapped[datetime | None]
    joined_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_conversation", "conversation_id", "id"),)
    id: Mapped[uuid.UUID] = id_column()
    conversation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    author_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(sa.Text)
    removed_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Report(Base):
    """One moderation-queue entry per reported item; duplicate reports raise ``report_count``."""

    __tablename__ = "reports"
    __table_args__ = (sa.Index("ix_reports_hub_status", "hub_id", "status", "id"),
                      sa.Index("ix_reports_target", "hub_id", "target_type", "target_id", "status"))
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(sa.String(20))
    target_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    target_author_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    report_count: Mapped[int] = mapped_column(default=1)
    first_reported_at: Mapped[datetime]
    last_reported_at: Mapped[datetime]
    resolution: Mapped[str | None] = mapped_column(sa.String(20))
    resolution_note: Mapped[str | None] = mapped_column(sa.String(1000))
    resolved_at: Mapped[datetime | None]
    resolved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    resolved_by_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"))


class ReportReason(Base):
    """Who reported an item and why; one per reporter per queue entry."""

    __tablename__ = "report_reasons"
    __table_args__ = (sa.UniqueConstraint("report_id", "reporter_contact_id"),)
    id: Mapped[uuid.UUID] = id_column()
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"))
    reporter_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime]


class ModerationAction(Base):
    """The community audit log: who did what to which item or member, why, and when."""

    __tablename__ = "moderation_actions"
    __table_args__ = (sa.Index("ix_moderation_actions_hub", "hub_id", "id"),)
    id: Mapped[uuid.UUID] = id_column()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(30))
    target_type: Mapped[str] = mapped_column(sa.String(20))
    target_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id", ondelete="SET NULL"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))
    actor_contact_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
