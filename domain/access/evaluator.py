"""The access evaluator: a pure function from (subject, action, target, facts, now) to a decision.

Order of precedence, each step with its own reason code:

1. the target must exist                         -> ``not_found`` (hidden)
2. team staff by role                            -> allow ``team_staff`` / ``team_moderator`` / ``api_key``
                                                    (API key without a read scope: ``insufficient_scope``)
3. secret targets the subject is not in (and no  -> ``secret`` (hidden: answer 404, never 403). Checked
   override covers)                                 before ban and membership so that no "forbidden"
                                                    reason ever reveals that a secret target exists.
4. banned (denies everything, overrides too)     -> ``banned``
5. hub privacy and membership                    -> ``login_required`` / ``not_a_member``
6. required policy acceptance                    -> ``policy_not_accepted``
7. soft-ban: read-only                           -> ``soft_banned`` for post/react/message/moderate
8. moderation needs a hub moderator/admin        -> ``insufficient_role``; hub moderators and admins
                                                    pass the remaining steps: ``hub_moderator``
9. a space where only moderators post            -> ``posting_restricted`` for ``post`` (overrides
                                                    grant access, not a role: they do not lift it)
10. overrides (full, or on the target/ancestor)  -> allow ``granted_by_override``
11. a private space the member is not in         -> ``not_a_space_member``, unless an active
    ``community_access`` entitlement names the space, or the space has rules and they all pass (a
    rule on a private space grants entry; when one fails its reason is given, as in step 13). A
    private space's own rules are grants only: step 13 does not apply them to its members
12. a space restricted to a segment              -> ``not_in_segment`` unless the member is in it
13. rules on the hub, each ancestor and the target, all must pass — except that among content
    nodes only the deepest one with rules counts (a rule on a course covers its lessons unless a
    lesson has its own, which replaces it); in a rule the first failing
    condition names the reason: ``missing_entitlement``, ``missing_tag``, ``not_in_segment``,
    ``insufficient_role``, ``drip_locked`` (with ``unlock_at``), ``policy_not_accepted``; a condition
    of an unknown type or with malformed data fails closed: ``unknown_condition``
                                                 -> otherwise allow ``allowed``

Conditions read the membership only while the subject is a member: after leaving, ``role_at_least``,
``days_since_join`` and ``policy_accepted`` fail as for a non-member.

Nothing here does I/O or reads the clock: the same inputs always give the same decision.

Speed: what does not depend on ``now`` is computed once per fact object and kept on it (see
``domain.access.facts``): each condition parsed into an op code and operands (``Condition.parsed``),
the hub's rules keyed by ``(type, id.int)``, the contact's tags, segments and entitlements indexed
(``ContactFacts.index``). Facts built by hand get the same on their first decision. Without
``explain`` no trace is built and the common decisions are shared constants.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.facts import (
    HUB_ROLE_RANK,
    MODERATOR_ACTIONS,
    NO_CONTACT,
    OP_AFTER,
    OP_DAYS,
    OP_ENTITLEMENT,
    OP_POLICY,
    OP_ROLE,
    OP_SEGMENT,
    OP_SEGMENT_RAW,
    OP_TAG,
    OP_TAG_RAW,
    STAFF_ROLES,
    AccessFacts,
    ContactFacts,
    ContactIndex,
    RuleFact,
    Subject,
    Target,
)

READ_ONLY_ACTIONS = frozenset({"view"})
API_KEY_VIEW_SCOPES = frozenset({"hubs:read", "hubs:write", "content:read", "content:write",
                                 "community:read", "community:write", "access:read", "access:write"})


@dataclass(frozen=True)
class Step:
    """One line of an explanation: which check ran, how it came out, and why."""

    step: str
    outcome: str  # "pass", "fail", "allow", "skip"
    detail: str = ""
    rule_id: uuid.UUID | None = None
    condition: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    unlock_at: datetime | None = None
    hidden: bool = False  # deny as "not found", never "forbidden"
    trace: tuple[Step, ...] = field(default=(), compare=False)


class _Trace:
    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(self, step: str, outcome: str, detail: str = "", **kw: Any) -> None:
        self.steps.append(Step(step, outcome, detail, **kw))


def effective_status(status: str, expires_at: datetime | None, now: datetime) -> str:
    """A ban or soft-ban with an expiry ends at that exact second."""
    if status in ("banned", "soft_banned") and expires_at is not None and now >= expires_at:
        return "active"
    return status


def decide(subject: Subject, action: str, facts: AccessFacts, now: datetime, *, explain: bool = False) -> Decision:
    """Can ``subject`` do ``action`` on ``facts.target`` at ``now``? See the module docstring."""
    t = _Trace() if explain else None
    done = _traced(t) if t is not None else _decision

    target = facts.target
    if not target.exists:
        t and t.add("target", "fail", "the target does not exist in this hub")
        return done(False, "not_found", None, True)
    t and t.add("target", "pass")

    # 2. team side
    kind = subject.kind
    if kind == "staff":
        role = subject.team_role or ""
        if role in STAFF_ROLES:
            t and t.add("team_role", "allow", f"team {role}")
            return done(True, "team_staff")
        if role == "moderator" and action in MODERATOR_ACTIONS:
            t and t.add("team_role", "allow", "team moderator")
            return done(True, "team_moderator")
        t and t.add("team_role", "fail", f"team role {role or 'none'} cannot {action}")
        return done(False, "insufficient_role")
    if kind == "api_key":
        if action in READ_ONLY_ACTIONS and subject.scopes & API_KEY_VIEW_SCOPES:
            t and t.add("api_key", "allow", "API key with a read scope")
            return done(True, "api_key")
        t and t.add("api_key", "fail", f"API keys cannot {action} here")
        return done(False, "insufficient_scope")
    t and t.add("team_role", "skip", "not team staff")

    contact = facts.contact if kind == "member" else None
    membership = contact.membership if contact else None
    status = effective_status(membership.status, membership.status_expires_at, now) if membership else None

    # 3. secret targets: before any "forbidden" reason, so none reveals that the target exists
    if target.secret and not target.in_target and not _override_covers(contact, target.path, now):
        t and t.add("secret", "fail", "secret: not visible to this subject")
        return done(False, "secret", None, True)
    t and t.add("secret", "pass")

    # 4. banned beats everything a member could hold
    if status == "banned":
        t and t.add("banned", "fail", "banned from this hub")
        return done(False, "banned")
    t and t.add("banned", "pass")

    # 5. hub privacy and membership
    hub = facts.hub
    is_member = membership is not None and status != "left"
    read_only = action in READ_ONLY_ACTIONS
    if kind == "anonymous" and (hub.is_private or not read_only):
        t and t.add("membership", "fail", "log in first")
        return done(False, "login_required")
    if not is_member and (hub.is_private or not read_only):
        t and t.add("membership", "fail", "not a member of this hub")
        return done(False, "not_a_member")
    t and t.add("membership", "pass", "member" if is_member else "public hub, read only")

    # 6. required policies
    if is_member and membership is not None:
        if hub.required_policies:
            versions, accepted = hub.policy_versions, membership.accepted_policies
            for policy_type in hub.required_policies_sorted:
                current = versions.get(policy_type)
                if current is not None and accepted.get(policy_type) != current:
                    t and t.add("policies", "fail", f"{policy_type} version {current} not accepted")
                    return done(False, "policy_not_accepted")
        t and t.add("policies", "pass")

    # 7. soft-ban: read-only
    if status == "soft_banned" and not read_only:
        t and t.add("soft_ban", "fail", "soft-banned: read only")
        return done(False, "soft_banned")
    t and t.add("soft_ban", "pass")

    # 8. moderation, and hub moderators/admins
    hub_rank = HUB_ROLE_RANK.get(membership.role, 0) if is_member and membership else 0
    if hub_rank >= _MODERATOR_RANK:
        t and t.add("hub_role", "allow", f"hub {membership.role if membership else ''}")
        return done(True, "hub_moderator")
    if action == "moderate":
        t and t.add("hub_role", "fail", "moderating needs the hub role moderator or admin")
        return done(False, "insufficient_role")
    t and t.add("hub_role", "pass", "no hub moderator role")

    # 9. posting permission of a space
    if target.moderators_post_only:
        if action == "post":
            t and t.add("posting_permission", "fail", "only moderators post in this space")
            return done(False, "posting_restricted")
        t and t.add("posting_permission", "pass", f"only moderators post here; {action} is not posting")

    # 10. overrides
    if contact is not None and contact.overrides and _override_covers(contact, target.path, now):
        t and t.add("override", "allow", "an access override applies")
        return done(True, "granted_by_override")
    t and t.add("override", "skip", "no override applies")

    cx = contact.index if contact else NO_CONTACT

    # 11. a private space: its members, or a grant (entitlement, or its own rules passing)
    private = target.private
    if private and not target.in_target:
        ok, reason, unlock_at = _space_entry(cx, facts, now, t)
        if not ok:
            return done(False, reason, unlock_at)
    elif private:
        t and t.add("space_member", "pass", "a member of this private space")

    # 12. a space restricted to a segment
    if target.segment_id is not None:
        if contact is None or target.segment_id not in contact.segment_ids:
            t and t.add("space_segment", "fail", "not in the segment this space is restricted to")
            return done(False, "not_in_segment")
        t and t.add("space_segment", "pass", "in the space's segment")

    # 13. rules down the path (a private space's own rules grant entry, step 11: not applied again)
    rules_by_key = hub.rules_by_key
    if rules_by_key:
        own = target.target.key if private else None
        versions = hub.policy_versions
        inherited = (_shadowed_content_rules(target.path_keys, rules_by_key)
                     if target.target.type == "content_node" else _NO_KEYS)
        for key in target.path_keys:
            rules = rules_by_key.get(key)
            if rules is None or key == own or key in inherited:
                continue
            if t is None:
                for rule in rules:
                    failed = _rule_fails(rule.parsed, cx, now, versions)
                    if failed is not None:
                        return done(False, failed[0], failed[1])
            else:
                for rule in rules:
                    ok, reason, unlock_at = _rule(rule, cx, facts, now, t)
                    t.add("rule", "pass" if ok else "fail", "" if ok else reason, rule_id=rule.id)
                    if not ok:
                        return done(False, reason, unlock_at)
    t and t.add("rules", "pass", "every rule on the path passed")
    return done(True, "allowed")


_MODERATOR_RANK = HUB_ROLE_RANK["moderator"]
_NO_KEYS: frozenset[tuple[str, object]] = frozenset()


def _shadowed_content_rules(path_keys: tuple[tuple[str, object], ...],
                            rules_by_key: dict[tuple[str, object], Any]) -> frozenset[tuple[str, object]]:
    """The content nodes on the path whose rules do not apply: a rule on a course covers its
    modules and lessons unless one of them has rules of its own, which then replace what it would
    inherit (the deepest content node with rules decides; rules on the hub always apply)."""
    nodes = [k for k in path_keys if k[0] == "content_node" and k in rules_by_key]
    return frozenset(nodes[:-1]) if len(nodes) > 1 else _NO_KEYS
# Decisions without a trace or an unlock time are values: one shared instance each.
_DECISIONS: dict[tuple[bool, str, bool], Decision] = {}


def _decision(allowed: bool, reason: str, unlock_at: datetime | None = None, hidden: bool = False) -> Decision:
    if unlock_at is not None:
        return Decision(allowed, reason, unlock_at, hidden)
    key = (allowed, reason, hidden)
    d = _DECISIONS.get(key)
    if d is None:
        d = _DECISIONS[key] = Decision(allowed, reason, None, hidden)
    return d


def _traced(t: _Trace) -> Any:
    def done(allowed: bool, reason: str, unlock_at: datetime | None = None, hidden: bool = False) -> Decision:
        return Decision(allowed, reason, unlock_at, hidden, tuple(t.steps))
    return done


def _space_entry(cx: ContactIndex, facts: AccessFacts, now: datetime,
                 t: _Trace | None) -> tuple[bool, str, datetime | None]:
    """May a subject who is not in the private space ``facts.target`` enter it? Yes with an active
    ``community_access`` entitlement naming the space, or when the space has rules of its own and
    every one passes; else the failing rule's reason, or ``not_a_space_member`` with no rule."""
    space = facts.target.target
    if cx.contact is not None and _holds(cx, "community_access", space.id, now):
        t and t.add("space_member", "allow", "a community_access entitlement grants entry")
        return True, "allowed", None
    rules = facts.hub.rules_by_key.get(space.key, ())
    if not rules:
        t and t.add("space_member", "fail", "not a member of this private space")
        return False, "not_a_space_member", None
    for rule in rules:
        ok, reason, unlock_at = _rule(rule, cx, facts, now, t)
        if not ok:
            t and t.add("space_member", "fail", f"not a member, and the space's rule fails: {reason}",
                        rule_id=rule.id)
            return False, reason, unlock_at
    t and t.add("space_member", "allow", "the space's rules grant entry")
    return True, "allowed", None


def _override_covers(contact: ContactFacts | None, path: tuple[Target, ...], now: datetime) -> bool:
    if contact is None:
        return False
    for o in contact.overrides:
        if not o.active_at(now):
            continue
        if o.scope == "full" or (o.target is not None and o.target in path):
            return True
    return False


def _rule(rule: RuleFact, cx: ContactIndex, facts: AccessFacts, now: datetime,
          t: _Trace | None) -> tuple[bool, str, datetime | None]:
    """A rule's outcome, with a trace line per condition when ``t`` is given."""
    if t is None:
        failed = _rule_fails(rule.parsed, cx, now, facts.hub.policy_versions)
        return (True, "allowed", None) if failed is None else (False, failed[0], failed[1])
    is_any, parsed = rule.parsed
    versions = facts.hub.policy_versions
    failures: list[tuple[str, datetime | None]] = []
    for cond, p in zip(rule.conditions, parsed):
        failed = _fails(p, cx, now, versions)
        t.add("condition", "fail" if failed else "pass", failed[0] if failed else cond.type, rule_id=rule.id,
              condition={"condition_type": cond.type, "condition_data": dict(cond.data)})
        if failed is None:
            if is_any:
                return True, "allowed", None
        else:
            if not is_any:
                return False, failed[0], failed[1]
            failures.append(failed)
    if not failures:  # "all" with every condition passing, or an empty rule
        return True, "allowed", None
    reason, unlock_at = _any_failed(failures)
    return False, reason, unlock_at


def _rule_fails(parsed: tuple[bool, tuple[tuple[Any, ...], ...]], cx: ContactIndex, now: datetime,
                versions: dict[str, int]) -> tuple[str, datetime | None] | None:
    """None when the rule passes, else (reason, unlock_at): under "all" the first failing condition's;
    under "any" (every condition failed) the first one's reason, and for ``drip_locked`` the earliest
    unlock time of the drip conditions."""
    is_any, conditions = parsed
    if not is_any:
        for p in conditions:
            failed = _fails(p, cx, now, versions)
            if failed is not None:
                return failed
        return None
    failures = []
    for p in conditions:
        failed = _fails(p, cx, now, versions)
        if failed is None:
            return None
        failures.append(failed)
    return _any_failed(failures) if failures else None


def _any_failed(failures: list[tuple[str, datetime | None]]) -> tuple[str, datetime | None]:
    reason = failures[0][0]
    unlocks = [u for r, u in failures if r == "drip_locked" and u is not None]
    return reason, min(unlocks) if reason == "drip_locked" and unlocks else failures[0][1]


_MISSING_TAG = ("missing_tag", None)
_NOT_IN_SEGMENT = ("not_in_segment", None)
_INSUFFICIENT_ROLE = ("insufficient_role", None)
_NOT_A_MEMBER = ("not_a_member", None)
_MISSING_ENTITLEMENT = ("missing_entitlement", None)
_POLICY_NOT_ACCEPTED = ("policy_not_accepted", None)
_UNKNOWN = ("unknown_condition", None)


def _fails(p: tuple[Any, ...], cx: ContactIndex, now: datetime,
           versions: dict[str, int]) -> tuple[str, datetime | None] | None:
    """None when the parsed condition ``p`` (``Condition.parsed``) passes, else (reason, unlock_at).
    Conditions read the membership only while the subject is a member (``cx.membership``)."""
    op = p[0]
    if op == OP_TAG:
        return None if p[1] in cx.tag_ints else _MISSING_TAG
    if op == OP_ROLE:
        return None if cx.rank >= p[1] else _INSUFFICIENT_ROLE
    if op == OP_DAYS:
        membership = cx.membership
        if membership is None:
            return _NOT_A_MEMBER
        if p[1] is None:
            return _UNKNOWN  # malformed data fails closed, never raises
        try:
            unlock_at = membership.joined_at + p[1]
            return None if now >= unlock_at else ("drip_locked", unlock_at)
        except (TypeError, ValueError, OverflowError):
            return _UNKNOWN
    if op == OP_ENTITLEMENT:
        index = cx.windows_by_target if p[2] else cx.windows_by_kind
        if index is not None and p[1] is not None:
            return None if _active(index.get(p[1], ()), now) else _MISSING_ENTITLEMENT
        return None if _scan(cx, p[3], p[4], now) else _MISSING_ENTITLEMENT
    if op == OP_SEGMENT:
        return None if p[1] in cx.segment_ints else _NOT_IN_SEGMENT
    if op == OP_AFTER:
        unlock_at = p[1] if now.tzinfo is None else p[2]  # stored times are UTC
        try:
            return None if now >= unlock_at else ("drip_locked", unlock_at)
        except (TypeError, ValueError, OverflowError):
            return _UNKNOWN
    if op == OP_POLICY:
        current = versions.get(p[1])
        membership = cx.membership
        accepted = membership.accepted_policies.get(p[1]) if membership else None
        return None if current is not None and accepted == current else _POLICY_NOT_ACCEPTED
    if op == OP_TAG_RAW:
        return None if p[1] in cx.tag_ids else _MISSING_TAG
    if op == OP_SEGMENT_RAW:
        return None if p[1] in cx.segment_ids else _NOT_IN_SEGMENT
    return _UNKNOWN  # an unknown type or malformed data: fail closed


def _holds(cx: ContactIndex, kind: str, target_id: uuid.UUID, now: datetime) -> bool:
    """An active entitlement of ``kind`` naming ``target_id``."""
    index = cx.windows_by_target
    if index is not None and isinstance(target_id, uuid.UUID):
        return _active(index.get((kind, target_id.int), ()), now)
    return _scan(cx, kind, target_id, now)


def _active(windows: tuple[tuple[datetime | None, datetime | None, datetime | None], ...], now: datetime) -> bool:
    """Whether one of ``(starts_at, ends_at, revoked_at)`` is open at ``now`` (``EntitlementFact.active_at``)."""
    for starts_at, ends_at, revoked_at in windows:
        if revoked_at is not None and revoked_at <= now:
            continue
        if starts_at is not None and now < starts_at:
            continue
        if ends_at is None or now < ends_at:
            return True
    return False


def _scan(cx: ContactIndex, kind: object, target_id: object, now: datetime) -> bool:
    """The unindexed form of the entitlement check, for kinds that cannot be hashed."""
    return any(e.kind == kind and (target_id is None or e.target_id == target_id) and e.active_at(now)
               for e in cx.entitlements)
