"""The facts one decision reads: immutable values, loaded and cached by ``domain.access.loader``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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


@dataclass(frozen=True)
class Condition:
    type: str  # has_entitlement, has_tag, in_segment, role_at_least, days_since_join, available_after, policy_accepted
    data: dict[str, object]


@dataclass(frozen=True)
class RuleFact:
    id: uuid.UUID
    target: Target
    logic: str  # "any" or "all"
    conditions: tuple[Condition, ...]


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


@dataclass(frozen=True)
class ContactFacts:
    """Per (contact, hub): what that member is and holds."""

    contact_id: uuid.UUID
    membership: MembershipFacts | None
    entitlements: tuple[EntitlementFact, ...] = ()
    tag_ids: frozenset[uuid.UUID] = frozenset()
    segment_ids: frozenset[uuid.UUID] = frozenset()  # of the segments the hub's rules and spaces name
    overrides: tuple[OverrideFact, ...] = ()


@dataclass(frozen=True)
class AccessFacts:
    hub: HubFacts
    contact: ContactFacts | None
    target: TargetFacts
