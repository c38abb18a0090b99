"""Discussions, their comments and reactions: JSON:API types ``discussions``, ``comments`` and
``removals`` (the body of ``…/remove``), and the feed query."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request

from domain.community.comments import CommentFields
from domain.community.discussions import DiscussionFields, FeedQuery
from domain.community.reaction_counts import ReactionCount
from domain.filters import parse_bool_filter
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData, parse_list_query

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

FEED_FILTERS = frozenset({"status", "pinned"})


def feed_query(request: Request[Any, Any, Any]) -> FeedQuery:
    """``page[size]``, ``page[after]``, ``sort`` (``newest`` default, or ``activity``),
    ``filter[status]`` and ``filter[pinned]``; anything else is 422."""
    q = parse_list_query(request, FEED_FILTERS, sort=True, own_cursor=True)
    return FeedQuery(page=q.page, after=q.after, sort=q.sort or "newest", status=q.filters.get("status", "published"),
                     pinned=parse_bool_filter(q.filters, "pinned"))


class ReactionInfo(msgspec.Struct):
    emoji: str
    count: int
    reacted: bool


def _reactions(items: list[ReactionCount] | None) -> list[ReactionInfo]:
    return [ReactionInfo(r.emoji, r.count, r.reacted) for r in items or []]


# ---- discussions ---------------------------------------------------------------------------------


class DiscussionAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    space_id: str
    author_contact_id: str
    title: str
    body: str
    status: str
    publish_at: datetime | None
    published_at: datetime | None
    is_pinned: bool
    is_locked: bool
    comment_count: int
    last_activity_at: datetime
    edited_at: datetime | None
    removed_at: datetime | None
    removal_reason: str | None
    reactions: list[ReactionInfo]
    created_at: datetime
    updated_at: datetime


class DiscussionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str
    status: Literal["draft", "scheduled", "published"] = "published"
    publish_at: datetime | None = None


class DiscussionUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str | Unset = UNSET
    body: str | Unset = UNSET
    status: Literal["draft", "scheduled", "published"] | Unset = UNSET
    publish_at: datetime | None | Unset = UNSET


class DiscussionsResource(Resource):
    type: Literal["discussions"]
    attributes: DiscussionAttributes


class DiscussionsDocument(Document):
    data: DiscussionsResource


class DiscussionsListDocument(ListDocument):
    data: list[DiscussionsResource]


class DiscussionsCreateData(CreateData):
    type: Literal["discussions"]
    attributes: DiscussionCreate


class DiscussionsCreateDocument(Inbound):
    data: DiscussionsCreateData


class DiscussionsUpdateData(UpdateData):
    type: Literal["discussions"]
    attributes: DiscussionUpdate


class DiscussionsUpdateDocument(Inbound):
    data: DiscussionsUpdateData


def discussion_resource(d: DiscussionFields, reactions: list[ReactionCount] | None) -> DiscussionsResource:
    attrs = DiscussionAttributes(
        hub_id=str(d.hub_id), space_id=str(d.space_id), author_contact_id=str(d.author_contact_id), title=d.title,
        body=d.body, status=d.status, publish_at=d.publish_at, published_at=d.published_at, is_pinned=d.is_pinned,
        is_locked=d.is_locked, comment_count=d.comment_count, last_activity_at=d.last_activity_at,
        edited_at=d.edited_at, removed_at=d.removed_at, removal_reason=d.removal_reason,
        reactions=_reactions(reactions), created_at=d.created_at, updated_at=d.updated_at)
    return DiscussionsResource.of(d.id, attrs, self_link=f"/api/v1/hub/{d.hub_id}/discussions/{d.id}")


# ---- comments ------------------------------------------------------------------------------------


class CommentAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    discussion_id: str | None  # a comment is on a discussion or on a content node (content_node_id)
    content_node_id: str | None
    parent_id: str | None
    author_contact_id: str
    body: str
    edited_at: datetime | None
    removed_at: datetime | None
    reactions: list[ReactionInfo]
    created_at: datetime
    updated_at: datetime


class CommentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: str
    parent_id: str | None = None


class CommentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: str


class CommentsResource(Resource):
    type: Literal["comments"]
    attributes: CommentAttributes


class CommentsDocument(Document):
    data: CommentsResource


class CommentsListDocument(ListDocument):
    data: list[CommentsResource]


class CommentsCreateData(CreateData):
    type: Literal["comments"]
    attributes: CommentCreate


class CommentsCreateDocument(Inbound):
    data: CommentsCreateData


class CommentsUpdateData(UpdateData):
    type: Literal["comments"]
    attributes: CommentUpdate


class CommentsUpdateDocument(Inbound):
    data: CommentsUpdateData


def comment_resource(c: CommentFields, reactions: list[ReactionCount] | None) -> CommentsResource:
    attrs = CommentAttributes(
        hub_id=str(c.hub_id), discussion_id=str(c.discussion_id) if c.discussion_id else None,
        content_node_id=str(c.content_node_id) if c.content_node_id else None,
        parent_id=str(c.parent_id) if c.parent_id else None,
        author_contact_id=str(c.author_contact_id), body=c.body, edited_at=c.edited_at, removed_at=c.removed_at,
        reactions=_reactions(reactions), created_at=c.created_at, updated_at=c.updated_at)
    return CommentsResource.of(c.id, attrs, self_link=f"/api/v1/hub/{c.hub_id}/comments/{c.id}")


# ---- removals (moderators) -------------------------------------------------------------------------


class RemovalCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str | None = None


class RemovalsCreateData(CreateData):
    type: Literal["removals"]
    attributes: RemovalCreate


class RemovalsCreateDocument(Inbound):
    data: RemovalsCreateData
