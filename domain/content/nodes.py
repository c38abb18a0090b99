"""The content tree of a hub, team side: nodes (course, module, lesson, ...) with a title, a slug
unique among the hub's live nodes, a sanitized body, a position among their siblings and a status
(``draft`` or ``published``).

Tree writes of one hub are serialized (the hub row is locked on PostgreSQL; SQLite writes one
transaction at a time), so concurrent reorders, moves and inserts never lose or duplicate a
position: siblings are always numbered 0..n-1. A reorder names every live child of one parent in
its new order, or changes nothing. A move refuses a parent inside the node's own subtree
(``cycle``). DELETE is a soft delete of the node and its subtree; restore brings back what that
delete took (not what was deleted before), under a live parent.

Any change to the tree's shape (create, move, delete, restore) tells the access cache, which keeps
the hub's parent map (domain/access/loader.py).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.content.sanitize import check_body
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.filters import filter_choice
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import ContentNode, Hub
from persistence.pagination import Page, PageRequest, paginate

NODE_TYPES = ("course", "module", "lesson", "section", "resource")
STATUSES = ("draft", "published")
MAX_TITLE = 300
MAX_CHILDREN = 1000  # in one reorder
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 200


# ---- reading --------------------------------------------------------------------------------------


async def find_node(uow: UnitOfWork, hub_id: uuid.UUID, node_id: uuid.UUID | None, *, deleted: bool = False,
                    field: str | tuple[str | int, ...] | None = None) -> ContentNode:
    """The hub's node ``node_id`` (live, or also soft-deleted when ``deleted``), else 404."""
    node = await uow.session.get(ContentNode, node_id) if node_id else None
    if node is None or node.hub_id != hub_id or (node.deleted_at is not None and not deleted):
        raise NotFound("No content node of this hub has this id.", field=field)
    return node


async def list_nodes(ctx: Ctx, hub: Hub, page: PageRequest, *, parent: str | None = None,
                     status: str | None = None, deleted: bool = False) -> Page[ContentNode]:
    """The hub's nodes in creation order: live ones, or the soft-deleted ones with ``deleted``;
    ``parent`` a node id (its children) or ``root``; ``status`` draft or published."""
    stmt = sa.select(ContentNode).where(ContentNode.hub_id == hub.id,
                                        ContentNode.deleted_at.is_not(None) if deleted
                                        else ContentNode.deleted_at.is_(None))
    if parent is not None:
        if parent == "root":
            stmt = stmt.where(ContentNode.parent_id.is_(None))
        else:
            pid = parse_id(parent)
            if pid is None:
                raise ValidationFailed("filter[parent_id] is a node id or `root`.", code="invalid_filter",
                                       parameter="filter[parent_id]")
            stmt = stmt.where(ContentNode.parent_id == pid)
    if filter_choice(status, "status", STATUSES) is not None:
        stmt = stmt.where(ContentNode.status == status)
    return await paginate(ctx.uow.session, stmt, ContentNode.id, page)


async def children(ctx: Ctx, hub: Hub, node: ContentNode | None) -> list[ContentNode]:
    """The live children of ``node`` (the roots for None) in position order."""
    return await _children(ctx.uow, hub.id, node.id if node else None)


async def _children(uow: UnitOfWork, hub_id: uuid.UUID, parent_id: uuid.UUID | None) -> list[ContentNode]:
    stmt = sa.select(ContentNode).where(ContentNode.hub_id == hub_id, ContentNode.deleted_at.is_(None),
                                        ContentNode.parent_id.is_(None) if parent_id is None
                                        else ContentNode.parent_id == parent_id)
    return list((await uow.session.scalars(stmt.order_by(ContentNode.position, ContentNode.id))).all())


async def live_nodes(uow: UnitOfWork, hub_id: uuid.UUID) -> list[ContentNode]:
    """Every live node of the hub, in (parent, position) order: one query."""
    return list((await uow.session.scalars(
        sa.select(ContentNode).where(ContentNode.hub_id == hub_id, ContentNode.deleted_at.is_(None))
        .order_by(ContentNode.position, ContentNode.id))).all())


# ---- writing --------------------------------------------------------------------------------------


async def lock_tree(uow: UnitOfWork, hub_id: uuid.UUID) -> None:
    """Serialize the tree writes of one hub until commit (a row lock on the hub on PostgreSQL;
    SQLite runs one writing transaction at a time anyway)."""
    await uow.session.execute(sa.select(Hub.id).where(Hub.id == hub_id).with_for_update())


async def create_node(ctx: Ctx, hub: Hub, fields: Mapping[str, Any]) -> ContentNode:
    """A new node: ``title`` required; ``node_type`` (default ``lesson``), ``slug`` (from the title
    when absent), ``parent_id``, ``position`` (default last; siblings after it move down),
    ``status`` (default ``draft``), ``body`` (sanitized)."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    title = check_title(fields.get("title"))
    parent = await _parent(uow, hub.id, fields.get("parent_id"))
    slug = fields.get("slug")
    if slug is None:
        slug = await _free_slug(uow, hub.id, _slug_from(title))
    else:
        _check_slug(slug)
        if await _slug_taken(uow, hub.id, slug, None):
            raise _slug_conflict()
    now = ctx.now()
    node = ContentNode(hub_id=hub.id, parent_id=parent.id if parent else None, title=title, slug=slug,
                       node_type=_check_type(fields.get("node_type", "lesson")),
                       status=_check_status(fields.get("status", "draft")), body=check_body(fields.get("body")),
                       position=0, created_at=now, updated_at=now)
    siblings = await _children(uow, hub.id, node.parent_id)
    at = _check_position(fields.get("position"), len(siblings))
    uow.session.add(node)
    siblings.insert(at, node)
    _number(siblings)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return node


async def update_node(ctx: Ctx, hub: Hub, node: ContentNode, changes: Mapping[str, Any]) -> ContentNode:
    """Apply the attributes sent. ``parent_id`` moves the node (and its subtree) under another
    parent (``null``: to the top level), last unless ``position`` says where; 422 ``cycle`` for a
    parent inside its own subtree. ``position`` alone moves it among its siblings."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    if "title" in changes:
        node.title = check_title(changes["title"])
    if "slug" in changes:
        _check_slug(changes["slug"])
        if changes["slug"] != node.slug and await _slug_taken(uow, hub.id, changes["slug"], node.id):
            raise _slug_conflict()
        node.slug = changes["slug"]
    if "node_type" in changes:
        node.node_type = _check_type(changes["node_type"])
    if "status" in changes:
        node.status = _check_status(changes["status"])
    if "body" in changes:
        node.body = check_body(changes["body"])
    moved = "parent_id" in changes
    if moved or "position" in changes:
        old_parent = node.parent_id
        new_parent = old_parent
        if moved:
            parent = await _parent(uow, hub.id, changes["parent_id"])
            new_parent = parent.id if parent else None
            if new_parent is not None and await _in_subtree(uow, hub.id, node.id, new_parent):
                raise ValidationFailed("A node cannot move under itself or one of its descendants.", code="cycle",
                                       field="parent_id")
        old_siblings = [n for n in await _children(uow, hub.id, old_parent) if n.id != node.id]
        if new_parent == old_parent:
            siblings = old_siblings
        else:
            _number(old_siblings)
            siblings = await _children(uow, hub.id, new_parent)
        at = _check_position(changes.get("position"), len(siblings))
        node.parent_id = new_parent
        siblings.insert(at, node)
        _number(siblings)
        if new_parent != old_parent:
            facts_changed(uow, hub_id=hub.id)
    node.updated_at = ctx.now()
    await uow.session.flush()
    return node


async def reorder(ctx: Ctx, hub: Hub, node_ids: list[Any]) -> list[ContentNode]:
    """Number the children of one parent in the order given: ``node_ids`` must name every live
    child of that parent exactly once (422 ``incomplete_reorder`` / ``duplicate_node`` /
    ``mixed_parents`` naming ``node_ids[i]``), else nothing changes."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    if not node_ids:
        raise ValidationFailed("Name the children to reorder.", code="incomplete_reorder", field="node_ids")
    if len(node_ids) > MAX_CHILDREN:
        raise ValidationFailed(f"At most {MAX_CHILDREN} nodes in one reorder.", code="too_many_nodes",
                               field="node_ids", meta={"max": MAX_CHILDREN})
    ids: list[uuid.UUID] = []
    for i, raw in enumerate(node_ids):
        nid = parse_id(raw) if isinstance(raw, str) else None
        if nid is None:
            raise NotFound("No content node of this hub has this id.", field=("node_ids", i))
        if nid in ids:
            raise ValidationFailed("A node is named twice.", code="duplicate_node", field=("node_ids", i))
        ids.append(nid)
    first = await find_node(uow, hub.id, ids[0], field=("node_ids", 0))
    siblings = {n.id: n for n in await _children(uow, hub.id, first.parent_id)}
    for i, nid in enumerate(ids):
        if nid not in siblings:
            await find_node(uow, hub.id, nid, field=("node_ids", i))  # 404 for a node that is not the hub's
            raise ValidationFailed("All the nodes of a reorder share one parent.", code="mixed_parents",
                                   field=("node_ids", i))
    if len(ids) != len(siblings):
        raise ValidationFailed(f"Name every child of the parent ({len(siblings)}), each once.",
                               code="incomplete_reorder", field="node_ids", meta={"children": len(siblings)})
    ordered = [siblings[nid] for nid in ids]
    _number(ordered)
    now = ctx.now()
    for n in ordered:
        n.updated_at = now
    await uow.session.flush()
    return ordered


async def delete_node(ctx: Ctx, hub: Hub, node: ContentNode) -> None:
    """Soft delete the node and its live subtree (one timestamp, which restore uses); its later
    siblings move up."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    now = ctx.now()
    for n in await _subtree(uow, hub.id, node.id, live=True):
        n.deleted_at = now
        n.updated_at = now
    _number(await _children(uow, hub.id, node.parent_id))
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)


async def restore_node(ctx: Ctx, hub: Hub, node: ContentNode) -> ContentNode:
    """Bring back a soft-deleted node and what its delete took with it, last among its siblings;
    409 ``parent_deleted`` under a deleted parent (restore or move that first), 409 ``slug_taken``
    when a live node took its slug meanwhile."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    if node.deleted_at is None:
        return node
    if node.parent_id is not None:
        parent = await uow.session.get(ContentNode, node.parent_id)
        if parent is None or parent.deleted_at is not None:
            raise Conflict("Its parent is deleted: restore the parent first.", code="parent_deleted")
    stamp = node.deleted_at
    back = [n for n in await _subtree(uow, hub.id, node.id, live=False) if n.deleted_at == stamp]
    for n in back:
        if await _slug_taken(uow, hub.id, n.slug, n.id):
            raise _slug_conflict()
    now = ctx.now()
    for n in back:
        n.deleted_at = None
        n.updated_at = now
    siblings = [n for n in await _children(uow, hub.id, node.parent_id) if n.id != node.id]
    siblings.append(node)
    _number(siblings)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return node


# ---- helpers --------------------------------------------------------------------------------------


def _number(siblings: list[ContentNode]) -> None:
    for i, n in enumerate(siblings):
        if n.position != i:
            n.position = i


async def _subtree(uow: UnitOfWork, hub_id: uuid.UUID, root_id: uuid.UUID, *, live: bool) -> list[ContentNode]:
    """The node and its descendants (live ones, or all of them), read in one query."""
    stmt = sa.select(ContentNode).where(ContentNode.hub_id == hub_id)
    if live:
        stmt = stmt.where(ContentNode.deleted_at.is_(None))
    nodes = list((await uow.session.scalars(stmt)).all())
    kids: dict[uuid.UUID | None, list[ContentNode]] = {}
    by_id = {}
    for n in nodes:
        kids.setdefault(n.parent_id, []).append(n)
        by_id[n.id] = n
    if root_id not in by_id:
        return []
    out, todo = [], [by_id[root_id]]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(kids.get(n.id, ()))
    return out


async def _in_subtree(uow: UnitOfWork, hub_id: uuid.UUID, root_id: uuid.UUID, candidate: uuid.UUID) -> bool:
    return any(n.id == candidate for n in await _subtree(uow, hub_id, root_id, live=True))


def parent_id(raw: Any, what: str) -> uuid.UUID:
    """A tree's ``parent_id`` (a content node's, a page's), or 422 ``invalid_parent``."""
    pid = parse_id(raw) if isinstance(raw, str) else None
    if pid is None:
        raise ValidationFailed(f"parent_id is a {what} id.", code="invalid_parent", field="parent_id")
    return pid


async def _parent(uow: UnitOfWork, hub_id: uuid.UUID, raw: Any) -> ContentNode | None:
    if raw is None:
        return None
    return await find_node(uow, hub_id, parent_id(raw, "node"), field="parent_id")


def check_title(value: Any) -> str:
    """A node's or a page's title: 1 to ``MAX_TITLE`` characters once trimmed."""
    title = value.strip() if isinstance(value, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(f"title is 1 to {MAX_TITLE} characters.", code="invalid_title", field="title")
    return title


def _check_type(value: Any) -> str:
    if value not in NODE_TYPES:
        raise ValidationFailed(f"node_type is one of {', '.join(NODE_TYPES)}.", code="invalid_node_type",
                               field="node_type")
    return str(value)


def _check_status(value: Any) -> str:
    if value not in STATUSES:
        raise ValidationFailed(f"status is one of {', '.join(STATUSES)}.", code="invalid_status", field="status")
    return str(value)


def _check_position(value: Any, count: int) -> int:
    """Where to insert among ``count`` siblings: None or past the end is last."""
    if value is None:
        return count
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationFailed("position is a whole number from 0.", code="invalid_position", field="position")
    return min(value, count)


def _check_slug(slug: Any) -> None:
    if not isinstance(slug, str) or len(slug) > MAX_SLUG or not _SLUG.match(slug):
        raise ValidationFailed(f"A slug is 1–{MAX_SLUG} lowercase letters, digits and inner hyphens.",
                               code="invalid_slug", field="slug")


def _slug_from(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:180].rstrip("-") or "node"


async def _slug_taken(uow: UnitOfWork, hub_id: uuid.UUID, slug: str, except_id: uuid.UUID | None) -> bool:
    stmt = sa.select(ContentNode.id).where(ContentNode.hub_id == hub_id, ContentNode.slug == slug,
                                           ContentNode.deleted_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(ContentNode.id != except_id)
    return await uow.session.scalar(stmt.limit(1)) is not None


async def _free_slug(uow: UnitOfWork, hub_id: uuid.UUID, base: str) -> str:
    slug = base
    while await _slug_taken(uow, hub_id, slug, None):
        slug = f"{base[:170].rstrip('-')}-{secrets.token_hex(3)}"
    return slug


def _slug_conflict() -> Conflict:
    return Conflict("Another content node of this hub has this slug.", code="slug_taken", field="slug")

