"""The content tree as one member sees it (``H/content``): the hub's published nodes (a draft hides
its subtree), each with the access evaluator's decision for this member now — ``locked``, its
reason and, for drip, ``unlock_at``. A locked node keeps its title; its body is never handed out
(``MemberNode.body`` is None), and reading it alone (``H/content/{id}``) is a 403 with the reason.

The facts are loaded once (through the access cache) and each node is decided from the hub's
parent map in memory, so a tree of any size costs the same few queries: the nodes, the member's
progress, and the facts when the cache is cold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.evaluator import Decision, decide
from domain.access.facts import AccessFacts, Subject, Target, TargetFacts
from domain.access.loader import load_target_facts
from domain.access.service import refuse_unless_allowed
from domain.context import Ctx
from domain.errors import NotFound
from domain.identity.members import MemberPrincipal
from persistence.models import ContentNode, ContentProgress


@dataclass(frozen=True, slots=True)
class MemberNode:
    node: Any  # a row with ContentNode's member-visible fields (tree_rows)
    depth: int
    locked: bool
    lock_reason: str | None
    unlock_at: datetime | None
    completed: bool
    completed_at: datetime | None
    lessons: int  # leaves at or under this node that the member sees
    lessons_completed: int

    @property
    def body(self) -> str | None:
        return None if self.locked else self.node.body

    @property
    def percent(self) -> int:
        return (100 * self.lessons_completed) // self.lessons if self.lessons else 0


@dataclass(frozen=True)
class MemberTree:
    nodes: list[MemberNode]  # depth first, siblings by position
    continue_id: uuid.UUID | None  # the first unlocked lesson not completed, in tree order


class Decider:
    """Decisions for one member (a contact in a hub) on many nodes of the hub from facts loaded once."""

    def __init__(self, ctx: Ctx, hub_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        self.ctx, self.hub_id, self.contact_id = ctx, hub_id, contact_id
        self.subject = Subject.member(contact_id)
        self.now = ctx.now()

    async def load(self) -> Decider:
        uow, cache = self.ctx.uow, self.ctx.access
        self.hub = await cache.hub(uow, self.hub_id)
        self.contact = await cache.contact(uow, self.hub, self.contact_id)
        return self

    def decide_at(self, path: tuple[Target, ...]) -> Decision:
        """The decision on the last node of ``path`` (the hub, then the node's ancestors, then it)."""
        return decide(self.subject, "view", AccessFacts(self.hub.facts, self.contact, TargetFacts(path[-1], path=path)),
                      self.now)

    async def decide(self, node_id: uuid.UUID) -> Decision:
        target = await load_target_facts(self.ctx.uow, self.hub.facts, "content_node", node_id,
                                         self.contact_id, node_parents=self.hub.node_parents)
        return decide(self.subject, "view", AccessFacts(self.hub.facts, self.contact, target), self.now)


def visible(nodes: list[Any]) -> list[tuple[Any, int]]:
    """The published nodes whose ancestors are all published, depth first (with their depth)."""
    kids: dict[uuid.UUID | None, list[Any]] = {}
    for n in nodes:  # already in position order
        kids.setdefault(n.parent_id, []).append(n)
    out: list[tuple[Any, int]] = []
    stack = [(n, 0) for n in reversed(kids.get(None, []))]
    while stack:
        n, depth = stack.pop()
        if n.status != "published":
            continue
        out.append((n, depth))
        stack.extend((c, depth + 1) for c in reversed(kids.get(n.id, [])))
    return out


async def progress_of(ctx: Ctx, hub_id: uuid.UUID, contact_id: uuid.UUID) -> dict[uuid.UUID, datetime]:
    """node id -> when the contact completed it (completed nodes only)."""
    rows = await ctx.uow.session.execute(sa.select(ContentProgress.node_id, ContentProgress.completed_at).where(
        ContentProgress.hub_id == hub_id, ContentProgress.contact_id == contact_id,
        ContentProgress.completed_at.is_not(None)))
    return {node_id: at for node_id, at in rows.all()}


async def member_tree(ctx: Ctx, member: MemberPrincipal) -> MemberTree:
    """The tree as ``member`` sees it now (see the module docstring)."""
    return await contact_tree(ctx, member.hub_id, member.contact_id)


_TREE_COLUMNS = (ContentNode.id, ContentNode.hub_id, ContentNode.parent_id, ContentNode.title, ContentNode.slug,
                 ContentNode.node_type, ContentNode.body, ContentNode.status, ContentNode.position)


async def tree_rows(ctx: Ctx, hub_id: uuid.UUID) -> list[Any]:
    """Every live node of the hub as a plain row (the fields a member sees; no ORM object: a tree
    of hundreds of nodes is read many times), in (parent, position) order."""
    return list((await ctx.uow.session.execute(
        sa.select(*_TREE_COLUMNS).where(ContentNode.hub_id == hub_id, ContentNode.deleted_at.is_(None))
        .order_by(ContentNode.position, ContentNode.id))).all())


async def contact_tree(ctx: Ctx, hub_id: uuid.UUID, contact_id: uuid.UUID) -> MemberTree:
    """The tree as the contact sees it in the hub now, with their progress (also for staff: a
    contact's progress)."""
    decider = await Decider(ctx, hub_id, contact_id).load()
    shown = visible(await tree_rows(ctx, hub_id))
    done = await progress_of(ctx, hub_id, contact_id)
    return await build(decider, shown, done)


async def build(decider: Decider, shown: list[tuple[Any, int]], done: dict[uuid.UUID, datetime]) -> MemberTree:
    # paths built down the tree (depth first: a parent before its children), each Target made once
    root = (Target("hub", decider.hub_id),)
    paths: dict[uuid.UUID, tuple[Target, ...]] = {}
    decisions: dict[uuid.UUID, Decision] = {}
    for n, _ in shown:
        path = paths[n.id] = (*paths.get(n.parent_id, root), Target("content_node", n.id))
        decisions[n.id] = decider.decide_at(path)
    shown = [(n, d) for n, d in shown if not decisions[n.id].hidden]
    ids = {n.id for n, _ in shown}
    has_kids = {n.parent_id for n, _ in shown if n.parent_id in ids}
    # leaves counted bottom-up: (lessons, completed) per node
    counts: dict[uuid.UUID, list[int]] = {n.id: [0, 0] for n, _ in shown}
    for n, _ in reversed(shown):
        c = counts[n.id]
        if n.id not in has_kids:
            c[0], c[1] = 1, int(n.id in done)
        if n.parent_id in counts:
            p = counts[n.parent_id]
            p[0] += c[0]
            p[1] += c[1]
    out: list[MemberNode] = []
    continue_id = None
    for n, depth in shown:
        d = decisions[n.id]
        locked = not d.allowed
        if continue_id is None and not locked and n.id not in has_kids and n.id not in done:
            continue_id = n.id
        out.append(MemberNode(n, depth, locked, None if d.allowed else d.reason, d.unlock_at, n.id in done,
                              done.get(n.id), counts[n.id][0], counts[n.id][1]))
    return MemberTree(out, continue_id)


async def member_node(ctx: Ctx, member: MemberPrincipal, node_id: uuid.UUID | None) -> MemberNode:
    """One node as ``member`` sees it, with its body; 404 for a node they cannot see (a draft, under
    a draft, deleted, another hub's), 403 with the reason (and ``unlock_at``) for a locked one."""
    tree = await member_tree(ctx, member)
    for entry in tree.nodes:
        if entry.node.id == node_id:
            if entry.locked:
                decision = await (await Decider(ctx, member.hub_id, member.contact_id).load()).decide(entry.node.id)
                refuse_unless_allowed(decision)
            return entry
    raise NotFound("No content of this hub has this id.")


async def is_shown(ctx: Ctx, hub_id: uuid.UUID, node_id: uuid.UUID | None) -> bool:
    """Whether the node is on the hub's member tree (live, published, under published ancestors),
    locked or not: what a ``content:{id}`` subscription asks before the evaluator's ``view``."""
    return node_id is not None and any(n.id == node_id for n, _ in visible(await tree_rows(ctx, hub_id)))
