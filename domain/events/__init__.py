"""Domain events: one choke point that names, shapes and queues every event for after commit.

Each event name has a schema (a msgspec Struct) in ``EVENT_SCHEMAS``; ``emit`` refuses a name
without one, encodes the event once, and hands the bytes to the unit of work, which publishes them
through the broker only after the transaction commits. The realtime gateway adds per-channel
sequence numbers when it delivers them. Channel names come from ``domain.events.channels``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from domain.events.channels import (  # noqa: F401  (the channel helpers, importable from here too)
    contact_channel,
    content_channel,
    conversation_channel,
    discussion_channel,
    hub_channel,
    space_channel,
    team_channel,
)
from persistence.db import UnitOfWork


class Event(msgspec.Struct, kw_only=True):
    """What travels through the broker: the channel, the event name, its data, when it happened."""

    channel: str
    event: str
    data: dict[str, Any]
    at: datetime


class ContactSignedUp(msgspec.Struct, kw_only=True):
    team_contact_id: str
    contact_id: str
    email: str
    source: str | None
    lifecycle_stage: str
    created_at: datetime


class MemberJoined(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    membership_id: str
    role: str
    joined_at: datetime


class MemberStatusChanged(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    status: str
    reason: str | None
    expires_at: datetime | None


class MemberWarned(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    reason: str
    expires_at: datetime | None


class MemberRoleChanged(msgspec.Struct, kw_only=True):
    hub_id: str
    contact_id: str
    role: str
    previous_role: str


class AnnouncementCreated(msgspec.Struct, kw_only=True):
    id: str
    hub_id: str
    title: str
    body: str
    created_at: datetime


# ---- community: direct messages and moderation (domain/community/messages.py, moderation.py) ----


class MessageCreated(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    hub_id: str
    author_contact_id: str
    body: str
    created_at: datetime


class MessageReceived(msgspec.Struct, kw_only=True):
    """On each other participant's ``contact:{id}``: a message arrived for them (the body stays on
    the conversation's channel), so that a client learns of conversations it is not watching."""

    id: str
    conversation_id: str
    hub_id: str
    author_contact_id: str
    created_at: datetime


class MessageRemoved(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    hub_id: str
    removed_at: datetime


class ConversationRead(msgspec.Struct, kw_only=True):
    conversation_id: str
    hub_id: str
    contact_id: str
    last_read_message_id: str
    read_at: datetime


class MemberReported(msgspec.Struct, kw_only=True):
    report_id: str
    hub_id: str
    target_type: str
    target_id: str
    target_author_contact_id: str | None
    reporter_contact_id: str
    reason: str
    report_count: int
    reported_at: datetime


class ModerationActionTaken(msgspec.Struct, kw_only=True):
    id: str
    hub_id: str
    action: str
    target_type: str
    target_id: str
    reason: str | None
    report_id: str | None
    actor_user_id: str | None
    actor_api_key_id: str | None
    created_at: datetime


class DiscussionPublished(msgspec.Struct, kw_only=True):
    """``discussion.created`` and ``discussion.updated``: the discussion as every viewer sees it."""

    id: str
    hub_id: str
    space_id: str
    author_contact_id: str
    title: str
    body: str
    status: str
    is_pinned: bool
    is_locked: bool
    comment_count: int
    published_at: datetime | None
    last_activity_at: datetime
    edited_at: datetime | None
    created_at: datetime


class DiscussionActivity(msgspec.Struct, kw_only=True):
    """``discussion.activity``: a shown discussion's comment count (and last activity) changed — a
    comment was posted, deleted, removed or restored. For feeds: update the counter in place."""

    id: str
    hub_id: str
    space_id: str
    comment_count: int
    last_activity_at: datetime


class DiscussionRemoved(msgspec.Struct, kw_only=True):
    """``discussion.removed``: deleted by its author or removed by a moderator; clients drop it."""

    id: str
    hub_id: str
    space_id: str
    removed_by: str  # "author" or "moderator"


class CommentPublished(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``comment.created`` and ``comment.updated`` on ``discussion:{id}`` (a comment on a
    discussion: ``discussion_id`` set) or ``content:{id}`` (on a content node: ``content_node_id``)."""

    id: str
    hub_id: str
    discussion_id: str | None
    content_node_id: str | None = None  # only on a content node's comments (omitted otherwise)
    parent_id: str | None
    author_contact_id: str
    body: str
    edited_at: datetime | None
    created_at: datetime


class CommentRemoved(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``comment.removed`` on the comment's ``discussion:{id}`` or ``content:{id}``."""

    id: str
    hub_id: str
    discussion_id: str | None
    content_node_id: str | None = None
    removed_by: str  # "author" or "moderator"


class ReactionChanged(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``reaction.added`` / ``reaction.removed`` on ``discussion:{id}`` (or, for a comment on a
    content node, ``content:{id}``); ``count`` is the emoji's count on the target after the change."""

    hub_id: str
    discussion_id: str | None
    content_node_id: str | None = None
    target_type: str  # "discussion" or "comment"
    target_id: str
    emoji: str
    contact_id: str
    count: int


class OrderChanged(msgspec.Struct, kw_only=True):
    """``order.created`` / ``order.paid`` / ``order.refunded`` on ``team:{id}``. ``amount`` is what
    this event moves: 0 for a created order, what was paid, what was refunded now (so a dashboard
    adds ``order.paid`` amounts and subtracts ``order.refunded`` ones to keep revenue current)."""

    order_id: str
    hub_id: str
    contact_id: str
    product_id: str
    price_id: str
    provider: str
    status: str
    payment_status: str
    currency: str
    amount_total: int
    amount_refunded: int
    amount: int
    paid_at: datetime | None
    created_at: datetime
class PaymentChanged(msgspec.Struct, kw_only=True):
    """``payment.succeeded`` / ``payment.refunded`` on ``team:{id}``: money that is not an order's
    own first payment — a subscription's renewal paid, or such a payment refunded (the order's own
    payment is announced by ``order.paid`` / ``order.refunded``). ``amount`` is what this event
    moves (paid, or refunded now); a dashboard adds the first and subtracts the second."""

    payment_id: str
    order_id: str
    subscription_id: str | None
    hub_id: str
    contact_id: str
    provider: str
    status: str
    currency: str
    amount_total: int
    amount_refunded: int
    amount: int
    paid_at: datetime | None


# ---- content (domain/content/progress.py) ------------------------------------------------------


class ContentCompleted(msgspec.Struct, kw_only=True):
    """``content.completed`` on ``team:{id}``: a member completed a node (each time it becomes complete)."""

    hub_id: str
    contact_id: str
    node_id: str
    node_type: str
    title: str
    course_id: str | None
    course_percent: int
    completed_at: datetime


class CourseCompleted(msgspec.Struct, kw_only=True):
    """``course.completed`` on ``team:{id}``: a member completed every lesson of a course (each time
    the last one is completed); ``tag_id`` is the ``completed:<slug>`` tag they were given."""

    hub_id: str
    contact_id: str
    course_id: str
    title: str
    tag_id: str | None
    completed_at: datetime


class SubscriptionChanged(msgspec.Struct, kw_only=True):
    """``subscription.updated`` (any change of status, period or cancellation) and
    ``subscription.canceled`` (it has just ended) on ``team:{id}``."""

    id: str
    hub_id: str
    contact_id: str
    order_id: str
    product_id: str
    price_id: str
    provider: str
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None


EVENT_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "discussion.created": DiscussionPublished,
    "discussion.updated": DiscussionPublished,
    "discussion.removed": DiscussionRemoved,
    "discussion.activity": DiscussionActivity,
    "comment.created": CommentPublished,
    "comment.updated": CommentPublished,
    "comment.removed": CommentRemoved,
    "reaction.added": ReactionChanged,
    "reaction.removed": ReactionChanged,
    "contact.signed_up": ContactSignedUp,
    "member.joined": MemberJoined,
    "member.banned": MemberStatusChanged,
    "member.unbanned": MemberStatusChanged,
    "member.soft_banned": MemberStatusChanged,
    "member.warned": MemberWarned,
    "member.role_changed": MemberRoleChanged,
    "announcement.created": AnnouncementCreated,
    "message.created": MessageCreated,
    "message.received": MessageReceived,
    "message.removed": MessageRemoved,
    "conversation.read": ConversationRead,
    "member.reported": MemberReported,
    "moderation.action": ModerationActionTaken,
    "order.created": OrderChanged,
    "order.paid": OrderChanged,
    "order.refunded": OrderChanged,
    "payment.succeeded": PaymentChanged,
    "payment.refunded": PaymentChanged,
    "content.completed": ContentCompleted,
    "course.completed": CourseCompleted,
    "subscription.updated": SubscriptionChanged,
    "subscription.canceled": SubscriptionChanged,
}

_encoder = msgspec.json.Encoder()


def emit(uow: UnitOfWork, channel: str, name: str, data: msgspec.Struct, at: datetime) -> None:
    """Queue event ``name`` with ``data`` (an instance of its schema) on ``channel``; it is
    encoded once here and published only after ``uow`` commits."""
    schema = EVENT_SCHEMAS.get(name)
    if schema is None or type(data) is not schema:
        raise ValueError(f"event {name!r} needs a {schema.__name__ if schema else 'registered'} payload")
    payload = _encoder.encode(Event(channel=channel, event=name, data=msgspec.to_builtins(data), at=at))
    uow.publish(channel, payload)
