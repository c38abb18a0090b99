"""The content context's JSON:API types: ``content_nodes`` (the team's view: every field, drafts
and soft-deleted nodes too; the member's view: ``locked``, ``lock_reason``, ``unlock_at``, progress,
and a body only when unlocked) and ``content_progress``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

from domain.content.progress import ProgressView
from domain.content.tree import MemberNode, MemberTree
from persistence.models import ContentNode
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


def _hub_content(team_id: uuid.UUID | str, hub_id: uuid.UUID | str) -> str:
    return f"/api/v1/teams/{team_id}/hubs/{hub_id}/content"


# ---- team side -------------------------------------------------------------------------------------


class ContentNodeAttributes(msgspec.Struct, kw_only=True):
    title: str
    slug: str
    node_type: str
    parent_id: str | None
    position: int
    status: str
    body: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ContentNodeCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    slug: str | None = None
    node_type: str = "lesson"
    parent_id: str | None = None
    position: int | None = None
    status: str = "draft"
    body: str | None = None


class ContentNodeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str | Unset = UNSET
    slug: str | Unset = UNSET
    node_type: str | Unset = UNSET
    parent_id: str | None | Unset = UNSET
    position: int | Unset = UNSET
    status: str | Unset = UNSET
    body: str | None | Unset = UNSET


class ContentNodesResource(Resource):
    type: Literal["content_nodes"]
    attributes: ContentNodeAttributes


class ContentNodesDocument(Document):
    data: ContentNodesResource


class ContentNodesListDocument(ListDocument):
    data: list[ContentNodesResource]


class ContentNodesOrderDocument(msgspec.Struct):
    """The children of one parent in their new order (``POST …/content/reorder``, ``…/children``)."""

    data: list[ContentNodesResource]


class ContentNodesCreateData(CreateData):
    type: Literal["content_nodes"]
    attributes: ContentNodeCreate


class ContentNodesCreateDocument(Inbound):
    data: ContentNodesCreateData


class ContentNodesUpdateData(UpdateData):
    type: Literal["content_nodes"]
    attributes: ContentNodeUpdate


class ContentNodesUpdateDocument(Inbound):
    data: ContentNodesUpdateData


class ContentNodeLinkage(msgspec.Struct, forbid_unknown_fields=True):
    """A resource identifier: ``{"type": "content_nodes", "id": ...}``."""

    type: Literal["content_nodes"]
    id: str


class ContentReorderDocument(Inbound):
    """``POST …/content/reorder``: every child of one parent, in the new order."""

    data: list[ContentNodeLinkage]


def node_resource(n: ContentNode, team_id: uuid.UUID | str) -> ContentNodesResource:
    return ContentNodesResource.of(n.id, ContentNodeAttributes(
        title=n.title, slug=n.slug, node_type=n.node_type, parent_id=str(n.parent_id) if n.parent_id else None,
        position=n.position, status=n.status, body=n.body, created_at=n.created_at, updated_at=n.updated_at,
        deleted_at=n.deleted_at), self_link=f"{_hub_content(team_id, n.hub_id)}/{n.id}")


# ---- member side -----------------------------------------------------------------------------------


class MemberContentAttributes(msgspec.Struct, kw_only=True):
    title: str
    slug: str
    node_type: str
    parent_id: str | None
    position: int
    depth: int
    locked: bool
    lock_reason: str | None
    unlock_at: datetime | None
    body: str | None  # never for a locked node
    completed: bool
    completed_at: datetime | None
    lessons: int
    lessons_completed: int
    percent: int


class MemberContentResource(Resource):
    type: Literal["content_nodes"]
    attributes: MemberContentAttributes


class MemberContentDocument(Document):
    data: MemberContentResource


class MemberTreeMeta(msgspec.Struct):
    continue_id: str | None  # the first unlocked lesson not completed yet, in tree order
    lessons: int
    lessons_completed: int
    percent: int


class MemberTreeDocument(msgspec.Struct):
    data: list[MemberContentResource]
    meta: MemberTreeMeta


def member_node_resource(e: MemberNode, *, with_body: bool = True) -> MemberContentResource:
    n = e.node
    return MemberContentResource.of(n.id, MemberContentAttributes(
        title=n.title, slug=n.slug, node_type=n.node_type, parent_id=str(n.parent_id) if n.parent_id else None,
        position=n.position, depth=e.depth, locked=e.locked, lock_reason=e.lock_reason, unlock_at=e.unlock_at,
        body=e.body if with_body else None, completed=e.completed, completed_at=e.completed_at, lessons=e.lessons,
        lessons_completed=e.lessons_completed, percent=e.percent),
        self_link=f"/api/v1/hub/{n.hub_id}/content/{n.id}")


def member_tree_document(tree: MemberTree, *, with_body: bool = True) -> MemberTreeDocument:
    roots = [e for e in tree.nodes if e.depth == 0]
    lessons = sum(e.lessons for e in roots)
    done = sum(e.lessons_completed for e in roots)
    return MemberTreeDocument(
        data=[member_node_resource(e, with_body=with_body) for e in tree.nodes],
        meta=MemberTreeMeta(continue_id=str(tree.continue_id) if tree.continue_id else None, lessons=lessons,
                            lessons_completed=done, percent=(100 * done) // lessons if lessons else 0))


# ---- progress --------------------------------------------------------------------------------------


class ProgressAttributes(msgspec.Struct, kw_only=True):
    node_id: str
    completed: bool
    completed_at: datetime | None
    course_id: str | None
    course_percent: int


class ProgressWrite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    completed: bool = True


class ContentProgressResource(Resource):
    type: Literal["content_progress"]
    attributes: ProgressAttributes


class ContentProgressDocument(Document):
    data: ContentProgressResource


class ContentProgressCreateData(CreateData):
    type: Literal["content_progress"]
    attributes: ProgressWrite


class ContentProgressCreateDocument(Inbound):
    data: ContentProgressCreateData


def progress_resource(p: ProgressView) -> ContentProgressResource:
    return ContentProgressResource.of(p.node_id, ProgressAttributes(
        node_id=str(p.node_id), completed=p.completed, completed_at=p.completed_at,
        course_id=str(p.course_id) if p.course_id else None, course_percent=p.course_percent),
        self_link=f"/api/v1/hub/{p.hub_id}/content/{p.node_id}/progress")
