"""One-line access facts for the pure evaluator tests: a fixed hub with a small content tree, and
factories for conditions, rules, hub facts, a member's facts, targets and subjects."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from domain.access.facts import (
    AccessFacts,
    Condition,
    ContactFacts,
    EntitlementFact,
    HubFacts,
    MembershipFacts,
    OverrideFact,
    RuleFact,
    Subject,
    Target,
    TargetFacts,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SEC = timedelta(seconds=1)
DAY = timedelta(days=1)


def U(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


HUB_ID, TEAM_ID, CONTACT_ID = U(1), U(2), U(3)

# hub ─┬─ space
#      ├─ secret space
#      └─ course ─┬─ module A ── lesson A1
#                 └─ module B ── lesson B1
HUB = Target("hub", HUB_ID)
SPACE = Target("space", U(10))
SECRET_SPACE = Target("space", U(11))
COURSE = Target("content_node", U(20))
MODULE_A = Target("content_node", U(21))
LESSON_A1 = Target("content_node", U(22))
MODULE_B = Target("content_node", U(23))
LESSON_B1 = Target("content_node", U(24))
NODES = (HUB, SPACE, SECRET_SPACE, COURSE, MODULE_A, LESSON_A1, MODULE_B, LESSON_B1)
PATHS: dict[Target, tuple[Target, ...]] = {
    HUB: (HUB,),
    SPACE: (HUB, SPACE),
    SECRET_SPACE: (HUB, SECRET_SPACE),
    COURSE: (HUB, COURSE),
    MODULE_A: (HUB, COURSE, MODULE_A),
    LESSON_A1: (HUB, COURSE, MODULE_A, LESSON_A1),
    MODULE_B: (HUB, COURSE, MODULE_B),
    LESSON_B1: (HUB, COURSE, MODULE_B, LESSON_B1),
}

TAG_VIP, TAG_OTHER = U(100), U(101)
SEG_ACTIVE, SEG_OTHER = U(200), U(201)

MEMBER = Subject.member(CONTACT_ID)
ANON = Subject.anonymous()


# ---- conditions -----------------------------------------------------------------------------------

def has_ent(kind: str = "content_enrollment", target: Target | uuid.UUID | str | None = COURSE) -> Condition:
    tid = target.id if isinstance(target, Target) else target
    return Condition("has_entitlement", {"kind": kind, "target_id": None if tid is None else str(tid)})


def has_tag(tag_id: uuid.UUID = TAG_VIP) -> Condition:
    return Condition("has_tag", {"tag_id": str(tag_id)})


def in_segment(segment_id: uuid.UUID = SEG_ACTIVE) -> Condition:
    return Condition("in_segment", {"segment_id": str(segment_id)})


def role_at_least(role: str) -> Condition:
    return Condition("role_at_least", {"role": role})


def days_since_join(days: object) -> Condition:
    return Condition("days_since_join", {"days": days})


def available_after(at: object) -> Condition:
    return Condition("available_after", {"at": at})


def policy_accepted(policy_type: str = "tos") -> Condition:
    return Condition("policy_accepted", {"policy_type": policy_type})


_rule_seq = iter(range(10_000, 10**9))


def rule(on: Target, *conditions: Condition, logic: str = "all", id: uuid.UUID | None = None) -> RuleFact:
    return RuleFact(id or U(next(_rule_seq)), on, logic, tuple(conditions))


# ---- facts ----------------------------------------------------------------------------------------

def hub(private: bool = False, rules: Iterable[RuleFact] = (), policies: dict[str, int] | None = None,
        required: Iterable[str] = ()) -> HubFacts:
    by_target: dict[Target, tuple[RuleFact, ...]] = {}
    for r in rules:
        by_target[r.target] = (*by_target.get(r.target, ()), r)
    return HubFacts(HUB_ID, TEAM_ID, private, dict(policies or {}), frozenset(required), by_target)


def entitlement(kind: str = "content_enrollment", target: Target | uuid.UUID | None = COURSE, *,
                starts: datetime | None = None, ends: datetime | None = None,
                revoked: datetime | None = None, id: uuid.UUID | None = None) -> EntitlementFact:
    tid = target.id if isinstance(target, Target) else target
    return EntitlementFact(id or uuid.uuid4(), kind, tid, starts, ends, revoked)


def override(target: Target | None = None, *, expires: datetime | None = None, scope: str | None = None) -> OverrideFact:
    return OverrideFact(uuid.uuid4(), scope or ("full" if target is None else "target"), target, expires)


def membership(role: str = "member", status: str = "active", expires: datetime | None = None,
               joined: datetime = NOW - 30 * DAY, accepted: dict[str, int] | None = None) -> MembershipFacts:
    return MembershipFacts(role, status, expires, joined, dict(accepted or {}))


def member(role: str = "member", status: str = "active", expires: datetime | None = None,
           joined: datetime = NOW - 30 * DAY, tags: Iterable[uuid.UUID] = (), segments: Iterable[uuid.UUID] = (),
           entitlements: Iterable[EntitlementFact] = (), overrides: Iterable[OverrideFact] = (),
           accepted: dict[str, int] | None = None) -> ContactFacts:
    return ContactFacts(CONTACT_ID, membership(role, status, expires, joined, accepted), tuple(entitlements),
                        frozenset(tags), frozenset(segments), tuple(overrides))


def non_member(entitlements: Iterable[EntitlementFact] = (), overrides: Iterable[OverrideFact] = (),
               tags: Iterable[uuid.UUID] = ()) -> ContactFacts:
    return ContactFacts(CONTACT_ID, None, tuple(entitlements), frozenset(tags), frozenset(), tuple(overrides))


def target(t: Target = LESSON_A1, *, exists: bool = True, secret: bool = False, in_target: bool = False) -> TargetFacts:
    return TargetFacts(t, exists, PATHS[t], secret, in_target)


def facts(hub_facts: HubFacts | None = None, contact: ContactFacts | None = None,
          target_facts: TargetFacts | None = None) -> AccessFacts:
    return AccessFacts(hub_facts or hub(), contact, target_facts or target())


def staff(role: str | None) -> Subject:
    return Subject.staff(role)  # type: ignore[arg-type]


def api_key(*scopes: str) -> Subject:
    return Subject.api_key(frozenset(scopes))
