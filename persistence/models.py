"""The relational model. Every change here comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from persistence.ids import new_id
from persistence.types import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[str]: JSONType}


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(sa.Uuid(), primary_key=True, default=new_id)


class User(Base):
    """A staff user: logs in to manage teams."""

    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Team(Base):
    """The creator-side tenant."""

    __tablename__ = "teams"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    is_personal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime]


class AuthSession(Base):
    """One login: the family every rotated refresh token of that login belongs to."""

    __tablename__ = "auth_sessions"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class RefreshToken(Base):
    """One link of a session's rotation chain. ``used_at`` is when it was rotated; its successor
    points back at it through ``parent_id``, unique, so a chain never forks."""

    __tablename__ = "refresh_tokens"
    id: Mapped[uuid.UUID] = _id()
    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("refresh_tokens.id", ondelete="SET NULL"), unique=True
    )


class ApiKey(Base):
    """A team's integration credential. Only a hash of the secret is stored."""

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = _id()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    key_prefix: Mapped[str] = mapped_column(sa.String(32))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]]
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


# ---- CRM ------------------------------------------------------------------------------------------


class Contact(Base):
    """A person, once globally, keyed by normalized email."""

    __tablename__ = "contacts"
    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TeamContact(Base):
    """The CRM record of a contact inside one team."""

    __tablename__ = "team_contacts"
    __table_args__ = (sa.UniqueConstraint("team_id", "contact_id"),)
    id: Mapped[uuid.UUID] = _id()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    lifecycle_stage: Mapped[str] = mapped_column(sa.String(20), default="lead")
    source: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (sa.UniqueConstraint("team_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    color: Mapped[str | None] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactTag(Base):
    __tablename__ = "contact_tags"
    team_contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("team_contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime]


class ContactAttribute(Base):
    """A typed field definition: text, number, date, boolean, select, multi_select."""

    __tablename__ = "contact_attributes"
    __table_args__ = (sa.UniqueConstraint("team_id", "key"),)
    id: Mapped[uuid.UUID] = _id()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    data_type: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactAttributeOption(Base):
    __tablename__ = "contact_attribute_options"
    __table_args__ = (sa.UniqueConstraint("attribute_id", "value"),)
    id: Mapped[uuid.UUID] = _id()
    attribute_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contact_attributes.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(sa.String(100))
    label: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class ContactAttributeValue(Base):
    """One value of one attribute for one team contact, in the typed column its definition uses.
    multi_select stores one row per chosen option, so segments can match with plain SQL."""

    __tablename__ = "contact_attribute_values"
    __table_args__ = (
        sa.Index("ix_contact_attribute_values_lookup", "attribute_id", "value_text"),
        sa.Index("ix_contact_attribute_values_contact", "team_contact_id", "attribute_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    team_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("team_contacts.id", ondelete="CASCADE"))
    attribute_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contact_attributes.id", ondelete="CASCADE"))
    value_text: Mapped[str | None] = mapped_column(sa.Text)
    value_number: Mapped[float | None] = mapped_column(sa.Float)
    value_date: Mapped[datetime | None]
    value_bool: Mapped[bool | None]
    updated_at: Mapped[datetime]


class Segment(Base):
    __tablename__ = "segments"
    id: Mapped[uuid.UUID] = _id()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.String(1000))
    conditions: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# ---- Hubs and memberships ---------------------------------------------------------------------------


class Hub(Base):
    __tablename__ = "hubs"
    __table_args__ = (sa.UniqueConstraint("team_id", "slug"),)
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
    membership_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hub_memberships.id", ondelete="CASCADE"))
    policy_type: Mapped[str] = mapped_column(sa.String(30))
    version: Mapped[int]
    accepted_at: Mapped[datetime]


class MembershipAction(Base):
    """Audit record of a moderation action on a hub membership (ban, unban, soft-ban, warn, ...)."""

    __tablename__ = "membership_actions"
    __table_args__ = (sa.Index("ix_membership_actions_hub_contact", "hub_id", "contact_id"),)
    id: Mapped[uuid.UUID] = _id()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(30))
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    expires_at: Mapped[datetime | None]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class MagicLinkToken(Base):
    """A single-use, short-lived member login link. Only a hash of the token is stored."""

    __tablename__ = "magic_link_tokens"
    id: Mapped[uuid.UUID] = _id()
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    redirect_url: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


# ---- Email -------------------------------------------------------------------------------------------


class EmailOutbox(Base):
    """A message to send, written in the same transaction as the change that causes it. The worker
    sends it after commit; ``idempotency_key`` (also the Message-ID) keeps a retry from sending twice."""

    __tablename__ = "email_outbox"
    __table_args__ = (sa.Index("ix_email_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[uuid.UUID] = _id()
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    hub_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("hubs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(sa.String(50))
    to_email: Mapped[str] = mapped_column(sa.String(320))
    from_email: Mapped[str] = mapped_column(sa.String(400))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


# ---- Access: entitlements, rules, overrides, and the targets rules point at ---------------------------


class Entitlement(Base):
    """What a contact holds in a hub, for a window of time, from some source."""

    __tablename__ = "entitlements"
    __table_args__ = (sa.Index("ix_entitlements_hub_contact", "hub_id", "contact_id"),)
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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


class Space(Base):
    """A community space in a hub."""

    __tablename__ = "spaces"
    __table_args__ = (sa.UniqueConstraint("hub_id", "slug"),)
    id: Mapped[uuid.UUID] = _id()
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


class ContentNode(Base):
    """A node of a hub's content tree (course, module, lesson, ...); the content issue extends it."""

    __tablename__ = "content_nodes"
    __table_args__ = (sa.Index("ix_content_nodes_hub_parent", "hub_id", "parent_id"),)
    id: Mapped[uuid.UUID] = _id()
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("content_nodes.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    node_type: Mapped[str] = mapped_column(sa.String(30), default="lesson")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


# ---- Community ---------------------------------------------------------------------------------------


class Discussion(Base):
    __tablename__ = "discussions"
    __table_args__ = (
        sa.Index("ix_discussions_space_feed", "space_id", "status", "id"),
        sa.Index("ix_discussions_hub_activity", "hub_id", "status", "last_activity_at"),
        sa.Index("ix_discussions_due", "status", "publish_at"),
    )
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
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
    id: Mapped[uuid.UUID] = _id()
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"))
    reporter_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime]


class ModerationAction(Base):
    """The community audit log: who did what to which item or member, why, and when."""

    __tablename__ = "moderation_actions"
    __table_args__ = (sa.Index("ix_moderation_actions_hub", "hub_id", "id"),)
    id: Mapped[uuid.UUID] = _id()
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
