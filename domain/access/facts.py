"""The facts one decision reads: immutable values, loaded and cached by ``domain.access.loader``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Literal

ACTIONS = ("view", "post", "react", "message", "moderate")
TARGET_TYPES = ("hub", "space", "content_node", "page", "section", "media")
ENTITLEMENT_KINDS = ("hub_access", "content_enrollment", "community_access", "file_download")
HUB_ROLE_RANK = {"member": 1, "moderator": 2, "admin": 3}
# What a team role may do in the team's hubs without any rule applying.
STAFF_ROLES = frozenset({"owner", "admin", "staff"})
MODERATOR_ACTIONS = frozenset({"view", "post", "react", "message", "moderate"})

Action = Literal["view", "post", "react", "message", "moderate"]
SubjectKind = Literal["anonymous", "member", "staff", "api_key"]


@dataclass(frozen=True)
class Subject:
    """Who asks. ``team_role`` for staff; ``scopes`` for an API key; ``contact_id`` for a member."""

    kind: SubjectKind
    contact_id: uuid.UUID | None = None
    team_role: str | None = None
    scopes: frozenset[str] = frozenset()

    @staticmethod
    def anonymous() -> Subject:
        return Subject("anonymous")

    @staticmethod
    def member(contact_id: uuid.UUID) -> Subject:
        return Subject("member", contact_id=contact_id)

    @staticmethod
    def staff(team_role: str) -> Subject:
        return Subject("staff", team_role=team_role)

    @staticmethod
    def api_key(scopes: frozenset[str]) -> Subject:
        return Subject("api_key", scopes=scopes)


@dataclass(frozen=True)
class Target:
    type: str
    id: uuid.UUID

    @cached_property
    def key(self) -> tuple[str, object]:
        """``(type, id.int)``: equal exactly when the targets are, but hashed and compared in C
        (a UUID's ``__hash__``/``__eq__`` are Python code). Used to index rules by target."""
        return (self.type, self.id.int if isinstance(self.id, uuid.UUID) else self.id)


@dataclass(frozen=True)
class TargetFacts:
    """Where the target sits: its ancestors from the hub down (the target itself last), whether
    it exists, and whether it is secret to this subject (a secret space they are not in)."""

    target: Target
    exists: bool = True
    path: tuple[Target, ...] = ()  # hub first, then ancestors, then the target itself
    secret: bool = False  # a secret target: answers "not found" to those who may not see it
    in_target: bool = False  # the member belongs to it (e.g. a member of a private/secret space)
    private: bool = False  # a private space: listed, but entered only by its members or a grant
    moderators_post_only: bool = False  # a space whose posting_permission is "moderators"
    segment_id: uuid.UUID | None = None  # a space restricted to the members of this segment

    @cached_property
    def path_keys(self) -> tuple[tuple[str, object], ...]:
        """:attr:`Target.key` of each node of ``path``, in order."""
        return tuple(node.key for node in self.path)


@dataclass(frozen=True)
class MembershipFacts:
    role: str
    status: str  # stored status; the evaluator applies status_expires_at
    status_expires_at: datetime | None
    joined_at: datetime
    accepted_policies: dict[str, int] = field(default_factory=dict)  # policy_type -> latest version accepted


@dataclass(frozen=True)
class EntitlementFact:
    id: uuid.UUID
    kind: str
    target_id: uuid.UUID | None
    starts_at: datetime | None
    ends_at: datetime | None
    revoked_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        return self.ends_at is None or now < self.ends_at


@dataclass(frozen=True)
class OverrideFact:
    id: uuid.UUID
    scope: str  # "full" or "target"
    target: Target | None
    expires_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


# What a condition is parsed into once (``Condition.parsed``): an op code and its operands. The
# evaluator switches on the op; nothing is parsed per decision.
OP_TAG = 0  # (OP_TAG, tag_id.int)
OP_ROLE = 1  # (OP_ROLE, least rank; 99 for an unknown role)
OP_DAYS = 2  # (OP_DAYS, timedelta, or None when the days are malformed)
OP_ENTITLEMENT = 3  # (OP_ENTITLEMENT, index key: (kind, target_id.int) or the kind, by target?, kind, target_id)
OP_SEGMENT = 4  # (OP_SEGMENT, segment_id.int)
OP_AFTER = 5  # (OP_AFTER, unlock_at as given, unlock_at as UTC when naive)
OP_POLICY = 6  # (OP_POLICY, policy_type)
OP_TAG_RAW = 7  # (OP_TAG_RAW, value): a tag id that is not a UUID (malformed): compared as is
OP_SEGMENT_RAW = 8  # (OP_SEGMENT_RAW, value)
OP_UNKNOWN = 9  # (OP_UNKNOWN,): an unknown type or malformed data: fails closed


def parse_uuid(value: object) -> uuid.UUID | None:
    """A UUID, a string holding one, or None (also for anything malformed)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Condition:
    type: str  # has_entitlement, has_tag, in_segment, role_at_least, days_since_join, available_after, policy_accepted
    data: dict[str, object]

    @cached_property
    def parsed(self) -> tuple[Any, ...]:
        """The condition as an op code and its operands (see ``OP_*``), parsed on first use and kept:
        ids as ``UUID.int``, days as a ``timedelta``, dates as datetimes. ``data`` is not to be
        changed after the first decision reads it."""
        return _parse_condition(self.type, self.data)


def _parse_condition(kind: str, data: dict[str, object]) -> tuple[Any, ...]:
    if kind == "has_tag" or kind == "in_segment":
        value = parse_uuid(data.get("tag_id" if kind == "has_tag" else "segment_id"))
        if isinstance(value, uuid.UUID):
            return (OP_TAG if kind == "has_tag" else OP_SEGMENT, value.int)
        return (OP_TAG_RAW if kind == "has_tag" else OP_SEGMENT_RAW, value)
    if kind == "has_entitlement":
        want_kind, raw_target = data.get("kind"), data.get("target_id")
        want_target = parse_uuid(raw_target)
        if want_target is None and raw_target is not None:
            return (OP_UNKNOWN,)  # a malformed target id must not match any target
        try:
            hash(want_kind)
        except TypeError:  # cannot be looked up: scanned
            return (OP_ENTITLEMENT, None, False, want_kind, want_target)
        if want_target is None:
            return (OP_ENTITLEMENT, want_kind, False, want_kind, None)
        return (OP_ENTITLEMENT, (want_kind, want_target.int), True, want_kind, want_target)
    if kind == "role_at_least":
        return (OP_ROLE, HUB_ROLE_RANK.get(str(data.get("role")), 99))
    if kind == "days_since_join":
        try:
            return (OP_DAYS, timedelta(days=float(data.get("days", 0))))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return (OP_DAYS, None)  # malformed: fails closed (after the membership check)
    if kind == "available_after":
        at = data.get("at")
        try:
            unlock_at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        except (TypeError, ValueError, OverflowError):
            return (OP_UNKNOWN,)
        # stored times are UTC: a naive date compares as UTC against an aware ``now``
        return (OP_AFTER, unlock_at, unlock_at.replace(tzinfo=timezone.utc) if unlock_at.tzinfo is None else unlock_at)
    if kind == "policy_accepted":
        return (OP_POLICY, str(data.get("policy_type")))
    return (OP_UNKNOWN,)


@dataclass(frozen=True)
class RuleFact:
    id: uuid.UUID
    target: Target
    logic: str  # "any" or "all"
    conditions: tuple[Condition, ...]

    @cached_property
    def parsed(self) -> tuple[bool, tuple[tuple[Any, ...], ...]]:
        """``(logic is "any", each condition's ``parsed``)``, built on first use and kept."""
        return self.logic == "any", tuple(c.parsed for c in self.conditions)


@dataclass(frozen=True)
class HubFacts:
    """Per hub, shared by all its members: privacy, required policies, every rule."""

    hub_id: uuid.UUID
    team_id: uuid.UUID
    is_private: bool
    policy_versions: dict[str, int]  # policy_type -> current version
    required_policies: frozenset[str]  # policy types whose current version members must accept
    rules: dict[Target, tuple[RuleFact, ...]]
    # space id -> the segment a space is restricted to (so members' segments are loaded for it)
    space_segments: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    @cached_property
    def required_policies_sorted(self) -> tuple[str, ...]:
        return tuple(sorted(self.required_policies))

    @cached_property
    def rules_by_key(self) -> dict[tuple[str, object], tuple[RuleFact, ...]]:
        """``rules`` keyed by :attr:`Target.key` (hashed in C), built on first use and kept (so ``rules``
        is not to be changed after the first decision reads it)."""
        return {target.key: rules for target, rules in self.rules.items()}


@dataclass(frozen=True)
class ContactFacts:
    """Per (contact, hub): what that member is and holds."""

    contact_id: uuid.UUID
    membership: MembershipFacts | None
    entitlements: tuple[EntitlementFact, ...] = ()
    tag_ids: frozenset[uuid.UUID] = frozenset()
    segment_ids: frozenset[uuid.UUID] = frozenset()  # of the segments the hub's rules and spaces name
    overrides: tuple[OverrideFact, ...] = ()

    @cached_property
    def index(self) -> ContactIndex:
        """What conditions read, indexed once (on first use) for dict and set lookups."""
        return ContactIndex(self)


Window = tuple["datetime | None", "datetime | None", "datetime | None"]  # starts_at, ends_at, revoked_at


class ContactIndex:
    """A contact's facts as the evaluator's conditions read them (``ContactFacts.index``; ``NO_CONTACT``
    for a subject that is not a member):

    - ``membership``: None also after leaving (a former member has no role, join date or acceptances),
      and ``rank``, its role's rank (0 without one);
    - ``tag_ints`` / ``segment_ints``: ``UUID.int`` of the tags and segments held;
    - ``windows_by_kind``: kind -> (starts_at, ends_at, revoked_at) of each entitlement, in order;
      ``windows_by_target``: (kind, target_id.int) -> the same, for the entitlements naming a target.
      Both None (and entitlement conditions scan ``entitlements``) when a kind cannot be hashed.
    """

    __slots__ = ("contact", "entitlements", "membership", "rank", "segment_ids", "segment_ints", "tag_ids",
                 "tag_ints", "windows_by_kind", "windows_by_target")

    def __init__(self, contact: ContactFacts | None) -> None:
        self.contact = contact
        membership = contact.membership if contact is not None else None
        if membership is not None and membership.status == "left":
            membership = None
        self.membership = membership
        self.rank = HUB_ROLE_RANK.get(membership.role, 0) if membership is not None else 0
        self.tag_ids: frozenset[Any] = contact.tag_ids if contact is not None else frozenset()
        self.segment_ids: frozenset[Any] = contact.segment_ids if contact is not None else frozenset()
        self.tag_ints = frozenset(t.int for t in self.tag_ids if isinstance(t, uuid.UUID))
        self.segment_ints = frozenset(s.int for s in self.segment_ids if isinstance(s, uuid.UUID))
        self.entitlements: tuple[EntitlementFact, ...] = tuple(contact.entitlements) if contact is not None else ()
        by_kind: dict[Any, list[Window]] = {}
        by_target: dict[tuple[Any, int], list[Window]] = {}
        try:
            for e in self.entitlements:
                window = (e.starts_at, e.ends_at, e.revoked_at)
                by_kind.setdefault(e.kind, []).append(window)
                if isinstance(e.target_id, uuid.UUID):
                    by_target.setdefault((e.kind, e.target_id.int), []).append(window)
        except TypeError:  # an unhashable kind (hand-built facts): conditions scan instead
            self.windows_by_kind = self.windows_by_target = None
            return
        self.windows_by_kind: dict[Any, tuple[Window, ...]] | None = {k: tuple(v) for k, v in by_kind.items()}
        self.windows_by_target: dict[tuple[Any, int], tuple[Window, ...]] | None = {
            k: tuple(v) for k, v in by_target.items()}


NO_CONTACT = ContactIndex(None)


@dataclass(frozen=True)
class AccessFacts:
    hub: HubFacts
    contact: ContactFacts | None
    target: TargetFacts
