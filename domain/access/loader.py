"""Loading the facts one access decision reads, in a small, fixed number of queries.

Queries per cold load (each a constant, whatever the number of rules, entitlements, tags,
overrides, segments or content nodes):

- :func:`load_hub_facts`: **2** — the hub joined with its policies; every rule of the hub.
- :func:`load_hub`: the 2 above, **+1** for the hub's structure (the content-node parent map and
  the segment each restricted space is limited to, in one query), and, only when the hub's rules or
  spaces name segments, **+1** for those segments and **at most +4** for what they refer to
  (tags, hubs, attribute definitions, options; one query per kind for all segments together).
- :func:`load_contact_facts`: **4** — the membership with its policy acceptances; entitlements in
  the hub; overrides in the hub; tags of the contact's team contact — and **+1** (one SELECT of one
  EXISTS per segment) only when the hub's rules name segments.
- :func:`load_target_facts`: **0** for the hub or a content node (with the node map at hand),
  **1** for a space (the space — access level, posting permission, segment — and the contact's
  space membership together), a page, a section (with its page) or a file.

So a cold decision costs 7 queries (hub 3, contact 4, target 0) without segments, 8 on a space,
and at most 14 with segments; a warm one (see ``domain.access.cache``) 0, or 1 on a space.

Facts are loaded independent of the time of the decision (expired entitlements and overrides are
kept; the evaluator applies windows at ``now``), so a cached copy stays right as time passes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from domain.access.facts import (
    Condition,
    ContactFacts,
    EntitlementFact,
    HubFacts,
    MembershipFacts,
    OverrideFact,
    RuleFact,
    Target,
    TargetFacts,
)
from domain.crm.segments import segment_clauses as compile_segment_clauses
from domain.errors import NotFound
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import (
    AccessOverride,
    AccessRule,
    ContactTag,
    ContentNode,
    Entitlement,
    Hub,
    HubMembership,
    HubPolicy,
    MediaFile,
    Page,
    PageSection,
    PolicyAcceptance,
    Space,
    SpaceMember,
    TeamContact,
)

SegmentClauses = Mapping[uuid.UUID, sa.ColumnElement[bool]]
NodeParents = Mapping[uuid.UUID, "uuid.UUID | None"]
_ID_KEYS = ("tag_id", "segment_id", "target_id")


@dataclass(frozen=True)
class LoadedHub:
    """What the cache keeps per hub: the facts, the content tree's parent map, and the compiled
    clauses of the segments the hub's rules name (reused for every member's segment check)."""

    facts: HubFacts
    node_parents: NodeParents = field(default_factory=dict)
    segment_clauses: SegmentClauses = field(default_factory=dict)


# ---- the hub ------------------------------------------------------------------------------------


async def load_hub_facts(uow: UnitOfWork, hub_id: uuid.UUID) -> HubFacts:
    """The hub's privacy, current and required policy versions, and every rule (parsed). 2 queries.
    NotFound for an unknown or deleted hub."""
    s = uow.session
    rows = (await s.execute(
        sa.select(Hub.team_id, Hub.is_private, HubPolicy.policy_type, HubPolicy.version, HubPolicy.require_acceptance)
        .outerjoin(HubPolicy, HubPolicy.hub_id == Hub.id)
        .where(Hub.id == hub_id, Hub.deleted_at.is_(None))
    )).all()
    if not rows:
        raise NotFound("Hub not found.")
    versions: dict[str, int] = {}
    required: set[str] = set()
    for r in rows:
        if r.policy_type is not None:
            versions[r.policy_type] = r.version
            if r.require_acceptance:
                required.add(r.policy_type)
    rules: dict[Target, list[RuleFact]] = {}
    for rule in (await s.execute(
        sa.select(AccessRule.id, AccessRule.target_type, AccessRule.target_id, AccessRule.logic_operator,
                  AccessRule.conditions)
        .where(AccessRule.hub_id == hub_id).order_by(AccessRule.created_at, AccessRule.id)
    )).all():
        target = Target(rule.target_type, rule.target_id)
        rules.setdefault(target, []).append(RuleFact(rule.id, target, rule.logic_operator,
                                                     tuple(_condition(c) for c in rule.conditions or ())))
    return prepared(HubFacts(hub_id=hub_id, team_id=rows[0].team_id, is_private=bool(rows[0].is_private),
                             policy_versions=versions, required_policies=frozenset(required),
                             rules={t: tuple(r) for t, r in rules.items()}))


async def load_hub(uow: UnitOfWork, hub_id: uuid.UUID) -> LoadedHub:
    """:func:`load_hub_facts` plus the content-node parent map and the hub's segment clauses
    (3 queries, and at most 5 more when the rules name segments)."""
    facts = await load_hub_facts(uow, hub_id)
    nodes, space_segments = await load_structure(uow, hub_id)
    if space_segments:
        facts = prepared(dataclasses.replace(facts, space_segments=space_segments))
    clauses = await compile_segment_clauses(uow, facts.team_id, segments_named(facts))
    return LoadedHub(facts, nodes, clauses)


async def load_node_parents(uow: UnitOfWork, hub_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every live content node of the hub mapped to its parent, in one query."""
    rows = await uow.session.execute(sa.select(ContentNode.id, ContentNode.parent_id).where(
        ContentNode.hub_id == hub_id, ContentNode.deleted_at.is_(None)))
    return {node_id: parent_id for node_id, parent_id in rows.all()}


async def load_structure(uow: UnitOfWork, hub_id: uuid.UUID) -> tuple[dict[uuid.UUID, uuid.UUID | None],
                                                                      dict[uuid.UUID, uuid.UUID]]:
    """In one query: every live content node mapped to its parent, and every live space that is
    restricted to a segment mapped to that segment."""
    nodes = sa.select(ContentNode.id.label("id"), ContentNode.parent_id.label("ref"), sa.literal("n").label("kind")) \
        .where(ContentNode.hub_id == hub_id, ContentNode.deleted_at.is_(None))
    spaces = sa.select(Space.id.label("id"), Space.segment_id.label("ref"), sa.literal("s").label("kind")) \
        .where(Space.hub_id == hub_id, Space.deleted_at.is_(None), Space.segment_id.is_not(None))
    parents: dict[uuid.UUID, uuid.UUID | None] = {}
    space_segments: dict[uuid.UUID, uuid.UUID] = {}
    for row_id, ref, kind in (await uow.session.execute(sa.union_all(nodes, spaces))).all():
        if kind == "n":
            parents[row_id] = ref
        elif ref is not None:
            space_segments[row_id] = ref
    return parents, space_segments


def prepared(hub: HubFacts) -> HubFacts:
    """``hub`` with what the evaluator precomputes (each rule's parsed conditions, the rules keyed by
    target, the required policies in order) built now, at load time, rather than on its first
    decision. Returns ``hub``."""
    hub.rules_by_key  # noqa: B018 - cached properties: reading them computes and keeps them
    hub.required_policies_sorted  # noqa: B018
    for rules in hub.rules.values():
        for rule in rules:
            rule.parsed  # noqa: B018
    return hub


def segments_named(hub: HubFacts) -> frozenset[uuid.UUID]:
    """The segments the hub's ``in_segment`` conditions and its restricted spaces name."""
    out: set[uuid.UUID] = set(hub.space_segments.values())
    for rules in hub.rules.values():
        for rule in rules:
            for cond in rule.conditions:
                if cond.type == "in_segment" and isinstance(cond.data.get("segment_id"), uuid.UUID):
                    out.add(cond.data["segment_id"])  # type: ignore[arg-type]
    return frozenset(out)


def _condition(raw: Any) -> Condition:
    """A stored ``{condition_type, condition_data}`` as a Condition: ids as UUIDs and
    ``available_after.at`` as an aware datetime, so the evaluator does no parsing per decision.
    Malformed data is kept as it is: the evaluator fails closed on it."""
    if not isinstance(raw, Mapping):
        return Condition("invalid", {})
    ctype = str(raw.get("condition_type"))
    data = dict(raw.get("condition_data") or {}) if isinstance(raw.get("condition_data"), Mapping) else {}
    for key in _ID_KEYS:
        value = data.get(key)
        if isinstance(value, str) and (parsed := parse_id(value)) is not None:
            data[key] = parsed
    if ctype == "available_after" and isinstance(data.get("at"), str):
        try:
            at = datetime.fromisoformat(data["at"].replace("Z", "+00:00"))
            data["at"] = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return Condition(ctype, data)


# ---- the contact --------------------------------------------------------------------------------


async def load_contact_facts(uow: UnitOfWork, hub: HubFacts, contact_id: uuid.UUID, *,
                             segment_clauses: SegmentClauses | None = None) -> ContactFacts:
    """What ``contact_id`` is and holds in ``hub``: membership with accepted policy versions,
    entitlements, overrides, the tags of their team contact (none while it is soft-deleted), and
    which of the segments the hub's rules name they are in. 4 queries, +1 with segments (+up to 5
    to compile the clauses when ``segment_clauses`` is not given)."""
    s = uow.session
    membership: MembershipFacts | None = None
    rows = (await s.execute(
        sa.select(HubMembership.role, HubMembership.status, HubMembership.status_expires_at, HubMembership.joined_at,
                  PolicyAcceptance.policy_type, PolicyAcceptance.version)
        .outerjoin(PolicyAcceptance, PolicyAcceptance.membership_id == HubMembership.id)
        .where(HubMembership.hub_id == hub.hub_id, HubMembership.contact_id == contact_id)
    )).all()
    if rows:
        accepted: dict[str, int] = {}
        for r in rows:
            if r.policy_type is not None and r.version > accepted.get(r.policy_type, 0):
                accepted[r.policy_type] = r.version
        first = rows[0]
        membership = MembershipFacts(first.role, first.status, first.status_expires_at, first.joined_at, accepted)
    entitlements = tuple(
        EntitlementFact(r.id, r.kind, r.target_id, r.starts_at, r.ends_at, r.revoked_at)
        for r in (await s.execute(
            sa.select(Entitlement.id, Entitlement.kind, Entitlement.target_id, Entitlement.starts_at,
                      Entitlement.ends_at, Entitlement.revoked_at)
            .where(Entitlement.hub_id == hub.hub_id, Entitlement.contact_id == contact_id)
            .order_by(Entitlement.id)
        )).all()
    )
    overrides = tuple(
        OverrideFact(r.id, r.scope, Target(r.target_type, r.target_id) if r.target_type and r.target_id else None,
                     r.expires_at)
        for r in (await s.execute(
            sa.select(AccessOverride.id, AccessOverride.scope, AccessOverride.target_type, AccessOverride.target_id,
                      AccessOverride.expires_at)
            .where(AccessOverride.hub_id == hub.hub_id, AccessOverride.contact_id == contact_id)
            .order_by(AccessOverride.id)
        )).all()
    )
    tag_ids = frozenset((await s.scalars(
        sa.select(ContactTag.tag_id).join(TeamContact, TeamContact.id == ContactTag.team_contact_id)
        .where(TeamContact.team_id == hub.team_id, TeamContact.contact_id == contact_id,
               TeamContact.deleted_at.is_(None))
    )).all())
    if segment_clauses is None:
        segment_clauses = await compile_segment_clauses(uow, hub.team_id, segments_named(hub))
    segment_ids = await _segments_of(uow, contact_id, segment_clauses)
    contact = ContactFacts(contact_id, membership, entitlements, tag_ids, segment_ids, overrides)
    contact.index  # noqa: B018 - indexed now (a cached property), not on the first decision
    return contact


async def _segments_of(uow: UnitOfWork, contact_id: uuid.UUID, clauses: SegmentClauses) -> frozenset[uuid.UUID]:
    """Which of the segments in ``clauses`` the contact is in: one SELECT of one EXISTS each."""
    if not clauses:
        return frozenset()
    ids = list(clauses)
    columns = [
        sa.exists(sa.select(TeamContact.id).where(clauses[sid], TeamContact.contact_id == contact_id)).label(f"s{i}")
        for i, sid in enumerate(ids)
    ]
    row = (await uow.session.execute(sa.select(*columns))).one()
    return frozenset(sid for sid, hit in zip(ids, row) if hit)


# ---- the target ---------------------------------------------------------------------------------


async def load_target_facts(uow: UnitOfWork, hub: HubFacts, target_type: str, target_id: uuid.UUID,
                            contact_id: uuid.UUID | None, *, node_parents: NodeParents | None = None) -> TargetFacts:
    """Where the target sits in ``hub``: its path from the hub down (the target last), whether a
    space is secret and whether the contact belongs to it. An unknown target, another hub's or a
    deleted one (or under a deleted content node, or a section of a deleted page) does not exist; a
    file (``media``) belongs to the hub it was given. A section sits under its page (path: hub,
    page, section: a rule on the page covers its sections). A private page is secret, and so are
    its sections. 0 queries for the hub or a content node given ``node_parents``, else 1."""
    target = Target(target_type, target_id)
    hub_target = Target("hub", hub.hub_id)
    missing = TargetFacts(target, exists=False)
    if target_type == "hub":
        return TargetFacts(target, path=(hub_target,)) if target_id == hub.hub_id else missing
    if target_type == "content_node":
        parents = node_parents if node_parents is not None else await load_node_parents(uow, hub.hub_id)
        chain = _ancestry(parents, target_id)
        if chain is None:
            return missing
        return TargetFacts(target, path=(hub_target, *(Target("content_node", n) for n in chain)))
    if target_type == "page":
        privacy = await uow.session.scalar(sa.select(Page.privacy).where(
            Page.id == target_id, Page.hub_id == hub.hub_id, Page.deleted_at.is_(None)))
        if privacy is None:
            return missing
        # a private page is secret: only an access override naming it (or the hub) lets a member in
        return TargetFacts(target, path=(hub_target, target), secret=privacy == "private")
    if target_type == "section":
        row = (await uow.session.execute(
            sa.select(PageSection.page_id, Page.privacy).join(Page, Page.id == PageSection.page_id)
            .where(PageSection.id == target_id, PageSection.hub_id == hub.hub_id, PageSection.deleted_at.is_(None),
                   Page.hub_id == hub.hub_id, Page.deleted_at.is_(None))
        )).first()
        if row is None:
            return missing
        return TargetFacts(target, path=(hub_target, Target("page", row.page_id), target),
                           secret=row.privacy == "private")
    if target_type == "media":
        found = await uow.session.scalar(sa.select(MediaFile.id).where(
            MediaFile.id == target_id, MediaFile.hub_id == hub.hub_id, MediaFile.deleted_at.is_(None)))
        return TargetFacts(target, path=(hub_target, target)) if found is not None else missing
    if target_type == "space":
        in_space: Any = (sa.exists().where(SpaceMember.space_id == Space.id, SpaceMember.contact_id == contact_id)
                         if contact_id is not None else sa.false())
        row = (await uow.session.execute(
            sa.select(Space.access_level, Space.posting_permission, Space.segment_id, in_space.label("in_space"))
            .where(Space.id == target_id, Space.hub_id == hub.hub_id, Space.deleted_at.is_(None))
        )).first()
        if row is None:
            return missing
        return space_target(hub.hub_id, target_id, row.access_level, row.posting_permission, row.segment_id,
                            bool(row.in_space))
    return missing


def space_target(hub_id: uuid.UUID, space_id: uuid.UUID, access_level: str, posting_permission: str,
                 segment_id: uuid.UUID | None, in_space: bool) -> TargetFacts:
    """The target facts of a space from its stored fields (for callers that load many spaces in one
    query, e.g. a member's list of spaces). An unknown access level is treated as secret."""
    target = Target("space", space_id)
    known = access_level in ("open", "private")
    return TargetFacts(target, path=(Target("hub", hub_id), target), secret=not known,
                       in_target=in_space, private=access_level == "private",
                       moderators_post_only=posting_permission != "members", segment_id=segment_id)


def _ancestry(parents: NodeParents, node_id: uuid.UUID) -> list[uuid.UUID] | None:
    """The node's ancestors from the root down, the node last; None when the node or an ancestor
    is missing (deleted), or the parent chain loops."""
    if node_id not in parents:
        return None
    chain = [node_id]
    seen = {node_id}
    parent = parents[node_id]
    while parent is not None:
        if parent not in parents or parent in seen:
            return None
        chain.append(parent)
        seen.add(parent)
        parent = parents[parent]
    chain.reverse()
    return chain

