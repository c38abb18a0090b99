"""What the moderation console shows of a discussion, comment or message
(``moderation_items``), team side."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.community.staff_moderation import ModerationItem
from server.jsonapi import Document, ListDocument, Resource


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


class ModerationItemAttributes(msgspec.Struct, kw_only=True):
    target_type: str
    hub_id: str
    author_contact_id: str
    body: str
    created_at: datetime
    removed_at: datetime | None
    removal_reason: str | None
    deleted_at: datetime | None
    # by item: a discussion's space, title, status, pin, lock and count; a comment's discussion
    # or content node; a message's conversation (null otherwise)
    space_id: str | None
    discussion_id: str | None
    content_node_id: str | None
    conversation_id: str | None
    title: str | None
    status: str | None
    is_pinned: bool | None
    is_locked: bool | None
    comment_count: int | None


class ModerationItemsResource(Resource):
    type: Literal["moderation_items"]
    attributes: ModerationItemAttributes


class ModerationItemsDocument(Document):
    data: ModerationItemsResource


class ModerationItemsListDocument(ListDocument):
    data: list[ModerationItemsResource]


def item_resource(team_id: Any, v: ModerationItem) -> ModerationItemsResource:
    attrs = ModerationItemAttributes(
        target_type=v.target_type, hub_id=str(v.hub_id), author_contact_id=str(v.author_contact_id), body=v.body,
        created_at=v.created_at, removed_at=v.removed_at, removal_reason=v.removal_reason, deleted_at=v.deleted_at,
        space_id=_s(v.space_id), discussion_id=_s(v.discussion_id), content_node_id=_s(v.content_node_id),
        conversation_id=_s(v.conversation_id),
        title=v.title, status=v.status, is_pinned=v.is_pinned, is_locked=v.is_locked, comment_count=v.comment_count)
    return ModerationItemsResource.of(
        v.id, attrs, self_link=f"/api/v1/teams/{team_id}/hubs/{v.hub_id}/moderation/{v.target_type}s/{v.id}")


def item_document(team_id: Any, v: ModerationItem) -> ModerationItemsDocument:
    return ModerationItemsDocument(data=item_resource(team_id, v))
