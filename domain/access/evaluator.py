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
13. rules on the hub, each ancestor and the target, all must pass; in a rule the first failing
    condition names the reason: ``missing_entitlement``, ``missing_tag``, ``not_in_segment``,
    ``insufficient_role``, ``drip_locked`` (with ``unlock_at``), ``policy_not_accepted``; a condition
    of an unknown type or with malformed data fails closed: ``unknown_condition``
                                                 -> otherwise allow ``allowed``

Conditions read the membership only while the subject is a member: after leaving, ``role_at_least``,
``days_since_join`` and ``policy_accepted`` fail as for a non-member.

Nothing here does I/O or reads the clock: the same inputs always give the same decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from domain.access.facts import (
    HUB_ROLE_RANK,
    MODERATOR_ACTIONS,
    STAFF_ROLES,
    AccessFacts,
    Condition,
    ContactFacts,
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

    def done(allowed: bool, reason: str, unlock_at: datetime | None = None, hidden: bool = False) -> Decision:
        return Decision(allowed, reason, unlock_at, hidden, tuple(t.steps) if t else ())

    target = facts.target
    if not target.exists:
        t and t.add("target", "fail", "the target does not exist in this hub")
        return done(False, "not_found", hidden=True)
    t and t.add("target", "pass")

    # 2. team side
    if subject.kind == "staff":
        role = subject.team_role or ""
        if role in STAFF_ROLES:
            t and t.add("team_role", "allow", f"team {role}")
            return done(True, "team_staff")
        if role == "moderator" and action in MODERATOR_ACTIONS:
            t and t.add("team_role", "allow", "team moderator")
            return done(True, "team_moderator")
        t and t.add("team_role", "fail", f"team role {role or 'none'} cannot {action}")
        return done(False, "insufficient_role")
    if subject.kind == "api_key":
        if action in READ_ONLY_ACTIONS and subject.scopes & API_KEY_VIEW_SCOPES:
            t and t.add("api_key", "allow", "API key with a read scope")
            return done(True, "api_key")
        t and t.add("api_key", "fail", f"API keys cannot {action} here")
        return done(False, "insufficient_scope")
    t and t.add("team_role", "skip", "not team staff")

    contact = facts.contact if subject.kind == "member" else None
    membership = contact.membership if contact else None
    status = effective_status(membership.status, membership.status_expires_at, now) if membership else None

    # 3. secret targets: before any "forbidden" reason, so none reveals that the target exists
    if target.secret and not target.in_target and not _override_covers(contact, target.path, now):
        t and t.add("secret", "fail", "secret: not visible to this subject")
        return done(False, "secret", hidden=True)
    t and t.add("secret", "pass")

    # 4. banned beats everything a member could hold
    if status == "banned":
        t and t.add("banned", "fail", "banned from this hub")
        return done(False, "banned")
    t and t.add("banned", "pass")

    # 5. hub privacy and membership
    is_member = membership is not None and status != "left"
    if subject.kind == "anonymous" and (facts.hub.is_private or action not in READ_ONLY_ACTIONS):
        t and t.add("membership", "fail", "log in first")
        return done(False, "login_required")
    if not is_member and (facts.hub.is_private or action not in READ_ONLY_ACTIONS):
        t and t.add("membership", "fail", "not a member of this hub")
        return done(False, "not_a_member")
    t and t.add("membership", "pass", "member" if is_member else "public hub, read only")

    # 6. required policies
    if is_member and membership is not None:
        for policy_type in sorted(facts.hub.required_policies):
            current = facts.hub.policy_versions.get(policy_type)
            if current is not None and membership.accepted_policies.get(policy_type) != current:
                t and t.add("policies", "fail", f"{policy_type} version {current} not accepted")
                return done(False, "policy_not_accepted")
        t and t.add("policies", "pass")

    # 7. soft-ban: read-only
    if status == "soft_banned" and action not in READ_ONLY_ACTIONS:
        t and t.add("soft_ban", "fail", "soft-banned: read only")
        return done(False, "soft_banned")
    t and t.add("soft_ban", "pass")

    # 8. moderation, and hub moderators/admins
    hub_rank = HUB_ROLE_RANK.get(membership.role, 0) if is_member and membership else 0
    if hub_rank >= HUB_ROLE_RANK["moderator"]:
        t and t.add("hub_role", "allow", f"hub {membership.role if membership else ''}")
        return done(True, "hub_moderator")
    if action == "moderate":
        t and t.add("hub_role", "fail", "moderating needs the hub role moderator or admin")
        return done(False, "insufficient_role")
    t and t.add("hub_role", "pass", "no hub moderator role")

    # 9. posting permission of a space
    if action == "post" and target.moderators_post_only:
        t and t.add("posting_permission", "fail", "only moderators post in this space")
        return done(False, "posting_restricted")
    if target.moderators_post_only:
        t and t.add("posting_permission", "pass", f"only moderators post here; {action} is not posting")

    # 10. overrides
    if _override_covers(contact, target.path, now):
        t and t.add("override", "allow", "an access override applies")
        return done(True, "granted_by_override")
    t and t.add("override", "skip", "no override applies")

    # 11. a private space: its members, or a grant (entitlement, or its own rules passing)
    if target.private and not target.in_target:
        ok, reason, unlock_at = _space_entry(contact, facts, now, t)
        if not ok:
            return done(False, reason, unlock_at)
    elif target.private:
        t and t.add("space_member", "pass", "a member of this private space")

    # 12. a space restricted to a segment
    if target.segment_id is not None:
        if contact is None or target.segment_id not in contact.segment_ids:
            t and t.add("space_segment", "fail", "not in the segment this space is restricted to")
            return done(False, "not_in_segment")
        t and t.add("space_segment", "pass", "in the space's segment")

    # 13. rules down the path (a private space's own rules grant entry, step 11: not applied again)
    for node in target.path:
        if target.private and node == target.target:
            continue
        for rule in facts.hub.rules.get(node, ()):
            ok, reason, unlock_at = _rule(rule, contact, facts, now, t)
            t and t.add("rule", "pass" if ok else "fail", "" if ok else reason, rule_id=rule.id)
            if not ok:
                return done(False, reason, unlock_at)
    t and t.add("rules", "pass", "every rule on the path passed")
    return done(True, "allowed")


def _space_entry(contact: ContactFacts | None, facts: AccessFacts, now: datetime,
                 t: _Trace | None) -> tuple[bool, str, datetime | None]:
    """May a subject who is not in the private space ``facts.target`` enter it? Yes with an active
    ``community_access`` entitlement naming the space, or when the space has rules of its own and
    every one passes; else the failing rule's reason, or ``not_a_space_member`` with no rule."""
    space = facts.target.target
    if contact is not None and any(e.kind == "community_access" and e.target_id == space.id and e.active_at(now)
                                   for e in contact.entitlements):
        t and t.add("space_member", "allow", "a community_access entitlement grants entry")
        return True, "allowed", None
    rules = facts.hub.rules.get(space, ())
    if not rules:
        t and t.add("space_member", "fail", "not a member of this private space")
        return False, "not_a_space_member", None
    for rule in rules:
        ok, reason, unlock_at = _rule(rule, contact, facts, now, t)
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


def _rule(rule: RuleFact, contact: ContactFacts | None, facts: AccessFacts, now: datetime,
          t: _Trace | None) -> tuple[bool, str, datetime | None]:
    failures: list[tuple[str, datetime | None, Condition]] = []
    for cond in rule.conditions:
        ok, reason, unlock_at = _condition(cond, contact, facts, now)
        if t:
            t.add("condition", "pass" if ok else "fail", reason if not ok else cond.type, rule_id=rule.id,
                  condition={"condition_type": cond.type, "condition_data": dict(cond.data)})
        if ok:
            if rule.logic == "any":
                return True, "allowed", None
        else:
            failures.append((reason, unlock_at, cond))
            if rule.logic != "any":
                return False, reason, unlock_at
    if not failures:  # "all" with every condition passing, or an empty rule
        return True, "allowed", None
    reason = failures[0][0]
    unlocks = [u for r, u, _ in failures if r == "drip_locked" and u is not None]
    return False, reason, min(unlocks) if reason == "drip_locked" and unlocks else failures[0][1]


def _condition(cond: Condition, contact: ContactFacts | None, facts: AccessFacts,
               now: datetime) -> tuple[bool, str, datetime | None]:
    data = cond.data
    membership = contact.membership if contact else None
    if membership is not None and membership.status == "left":
        membership = None  # a former member is not a member: no role, join date or acceptances
    kind = cond.type
    if kind == "has_entitlement":
        want_kind, want_target = data.get("kind"), _uuid(data.get("target_id"))
        if want_target is None and data.get("target_id") is not None:
            return False, "unknown_condition", None  # a malformed target id must not match any target
        held = contact is not None and any(
            e.kind == want_kind and (want_target is None or e.target_id == want_target) and e.active_at(now)
            for e in contact.entitlements
        )
        return held, "missing_entitlement", None
    if kind == "has_tag":
        return contact is not None and _uuid(data.get("tag_id")) in contact.tag_ids, "missing_tag", None
    if kind == "in_segment":
        return contact is not None and _uuid(data.get("segment_id")) in contact.segment_ids, "not_in_segment", None
    if kind == "role_at_least":
        rank = HUB_ROLE_RANK.get(membership.role, 0) if membership else 0
        return rank >= HUB_ROLE_RANK.get(str(data.get("role")), 99), "insufficient_role", None
    if kind == "days_since_join":
        if membership is None:
            return False, "not_a_member", None
        try:
            unlock_at = membership.joined_at + timedelta(days=float(data.get("days", 0)))  # type: ignore[arg-type]
            return now >= unlock_at, "drip_locked", unlock_at
        except (TypeError, ValueError, OverflowError):
            return False, "unknown_condition", None  # malformed data fails closed, never raises
    if kind == "available_after":
        at = data.get("at")
        try:
            unlock_at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            if unlock_at.tzinfo is None and now.tzinfo is not None:
                unlock_at = unlock_at.replace(tzinfo=timezone.utc)  # stored times are UTC
            return now >= unlock_at, "drip_locked", unlock_at
        except (TypeError, ValueError, OverflowError):
            return False, "unknown_condition", None  # malformed data fails closed, never raises
    if kind == "policy_accepted":
        policy_type = str(data.get("policy_type"))
        current = facts.hub.policy_versions.get(policy_type)
        accepted = membership.accepted_policies.get(policy_type) if membership else None
        return current is not None and accepted == current, "policy_not_accepted", None
    return False, "unknown_condition", None  # fail closed


def _uuid(value: object) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
