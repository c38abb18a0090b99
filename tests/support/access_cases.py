"""The access evaluator's table: one case per line, each the facts, the subject, the action and the
decision expected (allowed, reason, unlock_at, hidden). The evaluator and explain tests run every
case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.access.facts import AccessFacts, Condition, ContactFacts, HubFacts, Subject, TargetFacts
from tests.support.access_facts import (
    ANON,
    COURSE,
    DAY,
    HUB,
    LESSON_A1,
    LESSON_B1,
    MEMBER,
    MODULE_A,
    MODULE_B,
    NOW,
    PATHS,
    SEC,
    SECRET_SPACE,
    SEG_ACTIVE,
    SEG_OTHER,
    SPACE,
    TAG_OTHER,
    TAG_VIP,
    api_key,
    available_after,
    days_since_join,
    entitlement,
    facts,
    has_ent,
    has_tag,
    hub,
    in_segment,
    member,
    non_member,
    override,
    policy_accepted,
    role_at_least,
    rule,
    staff,
    target,
)

# ---- the table ------------------------------------------------------------------------------------

Expect = tuple[bool, str, "datetime | None", bool]  # allowed, reason, unlock_at, hidden


def allow(reason: str = "allowed") -> Expect:
    return (True, reason, None, False)


def deny(reason: str, unlock_at: datetime | None = None) -> Expect:
    return (False, reason, unlock_at, False)


def hidden(reason: str) -> Expect:
    return (False, reason, None, True)


@dataclass(frozen=True)
class Case:
    name: str
    expect: Expect
    facts: AccessFacts
    subject: Subject = MEMBER
    action: str = "view"
    now: datetime = NOW


CASES: list[Case] = []


def case(name: str, expect: Expect, *, subject: Subject = MEMBER, action: str = "view",
         hub_facts: HubFacts | None = None, contact: ContactFacts | None = None,
         target_facts: TargetFacts | None = None, now: datetime = NOW, default_contact: bool = True) -> None:
    if contact is None and default_contact and subject.kind == "member":
        contact = member()
    CASES.append(Case(name, expect, facts(hub_facts, contact, target_facts), subject, action, now))


ENROLLED = entitlement("content_enrollment", COURSE)
ENROLL_RULE = rule(COURSE, has_ent("content_enrollment", COURSE))
LOCKED = hub(rules=[ENROLL_RULE])  # the course needs an enrollment
PRIVATE = hub(private=True)

# -- 1. the target must exist
case("not_found: a missing target is hidden", hidden("not_found"), target_facts=target(exists=False))
case("not_found: even for team staff", hidden("not_found"), subject=staff("owner"), target_facts=target(exists=False))
case("not_found: even for a banned member", hidden("not_found"), contact=member(status="banned"),
     target_facts=target(exists=False))

# -- 2. team side
for _role in ("owner", "admin", "staff"):
    case(f"team_staff: {_role} on a private hub, locked content", allow("team_staff"), subject=staff(_role),
         hub_facts=hub(private=True, rules=[ENROLL_RULE]))
case("team_staff: moderate", allow("team_staff"), subject=staff("admin"), action="moderate")
case("team_moderator: moderate", allow("team_moderator"), subject=staff("moderator"), action="moderate")
case("team_moderator: post in a secret space", allow("team_moderator"), subject=staff("moderator"), action="post",
     target_facts=target(SECRET_SPACE, secret=True))
case("insufficient_role: unknown team role", deny("insufficient_role"), subject=staff("viewer"))
case("insufficient_role: staff without a role", deny("insufficient_role"), subject=staff(None))
case("api_key: hubs:read may view", allow("api_key"), subject=api_key("hubs:read"), hub_facts=PRIVATE)
case("api_key: content:write may view", allow("api_key"), subject=api_key("content:write"), hub_facts=LOCKED)
case("insufficient_scope: key without a read scope", deny("insufficient_scope"), subject=api_key("orders:read"))
case("insufficient_scope: key with no scopes", deny("insufficient_scope"), subject=api_key())
case("insufficient_scope: keys never post", deny("insufficient_scope"), subject=api_key("community:write"),
     action="post")
case("staff beats banned: the subject is a team user, not the banned member", allow("team_staff"),
     subject=staff("staff"), contact=member(status="banned"))

# -- 3. banned
case("banned: view", deny("banned"), contact=member(status="banned"))
case("banned: post", deny("banned"), action="post", contact=member(status="banned"))
case("banned: hub admin role does not help", deny("banned"), action="moderate",
     contact=member(role="admin", status="banned"))
case("banned + full override -> banned", deny("banned"), contact=member(status="banned", overrides=[override()]))
case("banned + target override -> banned", deny("banned"),
     contact=member(status="banned", overrides=[override(LESSON_A1)]))
case("banned + entitlement satisfying the rule -> banned", deny("banned"), hub_facts=LOCKED,
     contact=member(status="banned", entitlements=[ENROLLED]))
case("banned: ban ending one second later still applies", deny("banned"),
     contact=member(status="banned", expires=NOW + SEC))
case("banned: ban ending exactly now is over", allow(), contact=member(status="banned", expires=NOW))
case("banned: ban ended an hour ago is over, rules apply", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(status="banned", expires=NOW - 3600 * SEC))
case("banned: in the secret space -> banned (not hidden)", deny("banned"),
     contact=member(status="banned"), target_facts=target(SECRET_SPACE, secret=True, in_target=True))
case("banned: not in the secret space -> hidden, not banned", hidden("secret"),
     contact=member(status="banned"), target_facts=target(SECRET_SPACE, secret=True))

# -- 4. privacy and membership
case("login_required: anonymous on a private hub", deny("login_required"), subject=ANON, hub_facts=PRIVATE)
case("login_required: anonymous posting on a public hub", deny("login_required"), subject=ANON, action="post")
case("login_required: anonymous moderating", deny("login_required"), subject=ANON, action="moderate")
case("anonymous views a public hub", allow(), subject=ANON, target_facts=target(HUB))
case("anonymous views public content", allow(), subject=ANON)
case("anonymous: a hub-wide rule still applies", deny("missing_tag"), subject=ANON,
     hub_facts=hub(rules=[rule(HUB, has_tag())]))
case("not_a_member: non-member on a private hub", deny("not_a_member"), hub_facts=PRIVATE, contact=non_member())
case("not_a_member: member subject with no contact facts", deny("not_a_member"), hub_facts=PRIVATE,
     default_contact=False)
case("non-member views a public hub", allow(), contact=non_member())
case("not_a_member: non-member reacts on a public hub", deny("not_a_member"), action="react", contact=non_member())
case("not_a_member: non-member moderates", deny("not_a_member"), action="moderate", contact=non_member())
case("not_a_member: left member on a private hub", deny("not_a_member"), hub_facts=PRIVATE,
     contact=member(status="left"))
case("not_a_member: left member messages on a public hub", deny("not_a_member"), action="message",
     contact=member(status="left"))
case("not_a_member: a full override does not make a non-member a member of a private hub",
     deny("not_a_member"), hub_facts=PRIVATE, contact=non_member(overrides=[override()]))
case("member views a private hub", allow(), hub_facts=PRIVATE)
case("member posts in a space", allow(), action="post", hub_facts=PRIVATE, target_facts=target(SPACE))
case("left member: role_at_least member fails (a former member is no member)", deny("insufficient_role"),
     hub_facts=hub(rules=[rule(COURSE, role_at_least("member"))]), contact=member(status="left"))
case("left member: drip does not count the old join date", deny("not_a_member"),
     hub_facts=hub(rules=[rule(COURSE, days_since_join(1))]), contact=member(status="left"))
case("left member: an entitlement still counts on a public hub", allow(), hub_facts=LOCKED,
     contact=member(status="left", entitlements=[ENROLLED]))

# -- secret targets
case("secret: member not in it -> hidden", hidden("secret"), target_facts=target(SECRET_SPACE, secret=True))
case("secret: member in it -> allowed", allow(), target_facts=target(SECRET_SPACE, secret=True, in_target=True))
case("secret: member in it may post", allow(), action="post",
     target_facts=target(SECRET_SPACE, secret=True, in_target=True))
case("secret: target override -> allowed", allow("granted_by_override"),
     contact=member(overrides=[override(SECRET_SPACE)]), target_facts=target(SECRET_SPACE, secret=True))
case("secret: full override -> allowed", allow("granted_by_override"),
     contact=member(overrides=[override()]), target_facts=target(SECRET_SPACE, secret=True))
case("secret: expired target override -> hidden", hidden("secret"),
     contact=member(overrides=[override(SECRET_SPACE, expires=NOW)]), target_facts=target(SECRET_SPACE, secret=True))
case("secret: override on another space does not reveal it", hidden("secret"),
     contact=member(overrides=[override(SPACE)]), target_facts=target(SECRET_SPACE, secret=True))
case("secret: anonymous on a private hub -> hidden, not login_required", hidden("secret"), subject=ANON,
     hub_facts=PRIVATE, target_facts=target(SECRET_SPACE, secret=True))
case("secret: non-member posting on a public hub -> hidden, not not_a_member", hidden("secret"), action="post",
     contact=non_member(), target_facts=target(SECRET_SPACE, secret=True))
case("secret: hub moderator not in it -> hidden", hidden("secret"), action="moderate",
     contact=member(role="moderator"), target_facts=target(SECRET_SPACE, secret=True))
case("secret: team staff see it", allow("team_staff"), subject=staff("owner"),
     target_facts=target(SECRET_SPACE, secret=True))

# -- required policies
TOS2 = hub(policies={"tos": 2, "privacy_policy": 1}, required=["tos"])
case("policy: current version accepted", allow(), hub_facts=TOS2, contact=member(accepted={"tos": 2}))
case("policy_not_accepted: stale version", deny("policy_not_accepted"), hub_facts=TOS2,
     contact=member(accepted={"tos": 1}))
case("policy_not_accepted: never accepted", deny("policy_not_accepted"), hub_facts=TOS2)
case("policy_not_accepted: one of two required", deny("policy_not_accepted"),
     hub_facts=hub(policies={"tos": 2, "privacy_policy": 1}, required=["tos", "privacy_policy"]),
     contact=member(accepted={"tos": 2}))
case("policy: not required, not accepted", allow(), hub_facts=hub(policies={"tos": 2}))
case("policy: required type without a published version is skipped", allow(),
     hub_facts=hub(required=["privacy_policy"]))
case("policy: non-member on a public hub is not asked", allow(), hub_facts=TOS2, contact=non_member())
case("policy_not_accepted beats soft-ban on post", deny("policy_not_accepted"), action="post", hub_facts=TOS2,
     contact=member(status="soft_banned"))
case("policy_not_accepted: hub moderators too", deny("policy_not_accepted"), action="moderate",
     hub_facts=TOS2, contact=member(role="moderator"))
case("policy_not_accepted: a full override does not skip it", deny("policy_not_accepted"), hub_facts=TOS2,
     contact=member(overrides=[override()]))

# -- soft-ban
case("soft-ban: view allowed", allow(), contact=member(status="soft_banned"))
for _action in ("post", "react", "message", "moderate"):
    case(f"soft_banned: {_action} denied", deny("soft_banned"), action=_action,
         contact=member(status="soft_banned", role="moderator" if _action == "moderate" else "member"))
case("soft_banned: a full override does not lift it", deny("soft_banned"), action="post",
     contact=member(status="soft_banned", overrides=[override()]))
case("soft-ban: view still goes through the rules", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(status="soft_banned"))
case("soft-ban ending exactly now: post allowed", allow(), action="post",
     contact=member(status="soft_banned", expires=NOW))
case("soft-ban ending one second later: post denied", deny("soft_banned"), action="post",
     contact=member(status="soft_banned", expires=NOW + SEC))

# -- moderation and hub roles
case("hub_moderator: moderator moderates", allow("hub_moderator"), action="moderate",
     contact=member(role="moderator"))
case("hub_moderator: admin moderates", allow("hub_moderator"), action="moderate", contact=member(role="admin"))
case("hub_moderator: passes the rules", allow("hub_moderator"), hub_facts=LOCKED, contact=member(role="moderator"))
case("insufficient_role: member moderates", deny("insufficient_role"), action="moderate")
case("insufficient_role: a full override does not grant moderation", deny("insufficient_role"),
     action="moderate", contact=member(overrides=[override()]))

# -- overrides
case("granted_by_override: full", allow("granted_by_override"), hub_facts=LOCKED,
     contact=member(overrides=[override()]))
case("granted_by_override: on the target", allow("granted_by_override"), hub_facts=LOCKED,
     contact=member(overrides=[override(LESSON_A1)]))
case("granted_by_override: on an ancestor", allow("granted_by_override"), hub_facts=LOCKED,
     contact=member(overrides=[override(MODULE_A)]))
case("granted_by_override: 'product' scope with a target", allow("granted_by_override"), hub_facts=LOCKED,
     contact=member(overrides=[override(COURSE, scope="product")]))
case("override on a sibling does not apply", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(overrides=[override(MODULE_B)]))
case("override on a descendant does not apply to the ancestor", deny("missing_entitlement"), hub_facts=LOCKED,
     target_facts=target(MODULE_A), contact=member(overrides=[override(LESSON_A1)]))
case("override expired an hour ago -> rules apply", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(overrides=[override(expires=NOW - 3600 * SEC)]))
case("override at exactly expires_at no longer applies", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(overrides=[override(expires=NOW)]))
case("override one second before expires_at applies", allow("granted_by_override"), hub_facts=LOCKED,
     contact=member(overrides=[override(expires=NOW + SEC)]))
case("granted_by_override: even with no rule", allow("granted_by_override"),
     contact=member(overrides=[override()]))
case("granted_by_override: non-member views a public hub", allow("granted_by_override"), hub_facts=LOCKED,
     contact=non_member(overrides=[override()]))

# -- entitlements
case("has_entitlement: held", allow(), hub_facts=LOCKED, contact=member(entitlements=[ENROLLED]))
case("missing_entitlement: none held", deny("missing_entitlement"), hub_facts=LOCKED)
case("missing_entitlement: anonymous", deny("missing_entitlement"), subject=ANON, hub_facts=LOCKED)
case("missing_entitlement: ends_at == now is expired", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(ends=NOW)]))
case("has_entitlement: ends one second later", allow(), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(ends=NOW + SEC)]))
case("missing_entitlement: not yet started", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(starts=NOW + SEC)]))
case("has_entitlement: starts exactly now", allow(), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(starts=NOW)]))
case("missing_entitlement: revoked", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(revoked=NOW - DAY)]))
case("missing_entitlement: revoked exactly now", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(revoked=NOW)]))
case("missing_entitlement: wrong target id", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(target=MODULE_B)]))
case("missing_entitlement: wrong kind", deny("missing_entitlement"), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement("file_download", COURSE)]))
case("missing_entitlement: an untargeted entitlement does not match a targeted rule", deny("missing_entitlement"),
     hub_facts=LOCKED, contact=member(entitlements=[entitlement(target=None)]))
case("has_entitlement: rule without target_id matches any target", allow(),
     hub_facts=hub(rules=[rule(HUB, has_ent("hub_access", None))]),
     contact=member(entitlements=[entitlement("hub_access", SPACE)]))
case("has_entitlement: one active among expired", allow(), hub_facts=LOCKED,
     contact=member(entitlements=[entitlement(ends=NOW - DAY), entitlement(starts=NOW - DAY)]))
case("unknown_condition: a malformed target_id fails closed, never matches any target", deny("unknown_condition"),
     hub_facts=hub(rules=[rule(COURSE, has_ent("content_enrollment", "not-a-uuid"))]),
     contact=member(entitlements=[ENROLLED]))

# -- tags, segments, roles, policies as conditions
case("has_tag: tagged", allow(), hub_facts=hub(rules=[rule(COURSE, has_tag())]), contact=member(tags=[TAG_VIP]))
case("missing_tag: other tag", deny("missing_tag"), hub_facts=hub(rules=[rule(COURSE, has_tag())]),
     contact=member(tags=[TAG_OTHER]))
case("in_segment: in it", allow(), hub_facts=hub(rules=[rule(SPACE, in_segment())]),
     target_facts=target(SPACE), contact=member(segments=[SEG_ACTIVE]))
case("not_in_segment: other segment", deny("not_in_segment"), hub_facts=hub(rules=[rule(SPACE, in_segment())]),
     target_facts=target(SPACE), contact=member(segments=[SEG_OTHER]))
case("role_at_least member: member passes", allow(), hub_facts=hub(rules=[rule(COURSE, role_at_least("member"))]))
case("insufficient_role: role_at_least moderator, member", deny("insufficient_role"),
     hub_facts=hub(rules=[rule(COURSE, role_at_least("moderator"))]))
case("insufficient_role: role_at_least an unknown role fails closed", deny("insufficient_role"),
     hub_facts=hub(rules=[rule(COURSE, role_at_least("owner"))]))
case("insufficient_role: non-member on a public hub", deny("insufficient_role"), contact=non_member(),
     hub_facts=hub(rules=[rule(COURSE, role_at_least("member"))]))
case("policy_accepted: current version", allow(),
     hub_facts=hub(policies={"tos": 3}, rules=[rule(COURSE, policy_accepted())]), contact=member(accepted={"tos": 3}))
case("policy_not_accepted: condition with a stale version", deny("policy_not_accepted"),
     hub_facts=hub(policies={"tos": 3}, rules=[rule(COURSE, policy_accepted())]), contact=member(accepted={"tos": 2}))
case("policy_not_accepted: condition on an unpublished policy fails", deny("policy_not_accepted"),
     hub_facts=hub(rules=[rule(COURSE, policy_accepted("privacy_policy"))]), contact=member(accepted={"tos": 1}))
case("unknown_condition: unknown type fails closed", deny("unknown_condition"),
     hub_facts=hub(rules=[rule(COURSE, Condition("moon_phase", {"phase": "full"}))]))
case("unknown_condition: unknown type in an any rule still lets the other pass", allow(),
     hub_facts=hub(rules=[rule(COURSE, Condition("moon_phase", {}), has_tag(), logic="any")]),
     contact=member(tags=[TAG_VIP]))

# -- drip at the boundary second
JOINED = NOW - 7 * DAY
case("drip_locked: days_since_join, one second before", deny("drip_locked", JOINED + SEC + 7 * DAY),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join(7))]), contact=member(joined=JOINED + SEC))
case("drip_locked: unlock_at is the exact second", deny("drip_locked", NOW + SEC),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join(7))]), contact=member(joined=JOINED + SEC))
case("days_since_join: at the unlock second", allow(),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join(7))]), contact=member(joined=JOINED))
case("days_since_join: days as a string", allow(),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join("7"))]), contact=member(joined=JOINED))
case("days_since_join: 0 days is open at once", allow(),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join(0))]), contact=member(joined=NOW))
case("days_since_join: anonymous is not_a_member", deny("not_a_member"), subject=ANON,
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join(1))]))
case("unknown_condition: days_since_join with malformed days fails closed", deny("unknown_condition"),
     hub_facts=hub(rules=[rule(MODULE_A, days_since_join("a week"))]))
case("drip_locked: available_after one second before", deny("drip_locked", NOW + SEC),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after(NOW + SEC))]))
case("available_after: at the unlock second", allow(), hub_facts=hub(rules=[rule(LESSON_A1, available_after(NOW))]))
case("drip_locked: available_after as an ISO string", deny("drip_locked", NOW + SEC),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after((NOW + SEC).isoformat()))]))
case("drip_locked: available_after as a naive ISO string is UTC", deny("drip_locked", NOW + SEC),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after("2025-06-01T12:00:01"))]))
case("available_after: naive ISO string at the second", allow(),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after("2025-06-01T12:00:00"))]))
case("unknown_condition: available_after without a date fails closed", deny("unknown_condition"),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after(None))]))
case("drip still applies to soft-banned members viewing", deny("drip_locked", NOW + DAY),
     hub_facts=hub(rules=[rule(LESSON_A1, available_after(NOW + DAY))]), contact=member(status="soft_banned"))

# -- inheritance down the content tree
case("a rule on the ancestor module blocks the lesson", deny("missing_tag"),
     hub_facts=hub(rules=[rule(MODULE_A, has_tag())]))
case("a rule on the course blocks the lesson", deny("missing_entitlement"), hub_facts=LOCKED)
case("a rule on the hub blocks a lesson", deny("missing_tag"), hub_facts=hub(rules=[rule(HUB, has_tag())]))
case("a rule on the hub blocks a space", deny("missing_tag"), hub_facts=hub(rules=[rule(HUB, has_tag())]),
     target_facts=target(SPACE))
case("a rule on the hub blocks the hub", deny("missing_tag"), hub_facts=hub(rules=[rule(HUB, has_tag())]),
     target_facts=target(HUB))
case("a rule on the sibling module does not apply", allow(), hub_facts=hub(rules=[rule(MODULE_B, has_tag())]))
case("a rule on the sibling lesson does not apply", allow(), hub_facts=hub(rules=[rule(LESSON_B1, has_tag())]))
case("a rule on the lesson does not block its module", allow(), hub_facts=hub(rules=[rule(LESSON_A1, has_tag())]),
     target_facts=target(MODULE_A))
case("a rule on a space does not block content", allow(), hub_facts=hub(rules=[rule(SPACE, has_tag())]))
case("hub rule passes, lesson rule fails: the lesson's reason", deny("not_in_segment"),
     hub_facts=hub(rules=[rule(HUB, has_tag()), rule(LESSON_A1, in_segment())]), contact=member(tags=[TAG_VIP]))
case("two failing rules on the path: the hub's names the reason", deny("missing_tag"),
     hub_facts=hub(rules=[rule(MODULE_A, in_segment()), rule(HUB, has_tag())]))
case("rules on a course and its module: the module's own rule replaces the course's", deny("not_in_segment"),
     hub_facts=hub(rules=[rule(MODULE_A, in_segment()), rule(COURSE, has_tag())]))
case("a lesson with its own rule is not covered by the course's", allow(), target_facts=target(LESSON_A1),
     hub_facts=hub(rules=[rule(COURSE, has_tag()), rule(LESSON_A1, role_at_least("member"))]))
case("a lesson without its own rule is covered by the course's", deny("missing_tag"), target_facts=target(LESSON_B1),
     hub_facts=hub(rules=[rule(COURSE, has_tag()), rule(LESSON_A1, role_at_least("member"))]))
case("the hub's rules still apply under a lesson's own rule", deny("missing_tag"), target_facts=target(LESSON_A1),
     hub_facts=hub(rules=[rule(HUB, has_tag()), rule(COURSE, in_segment()), rule(LESSON_A1, role_at_least("member"))]))
case("two rules on one node: both must pass", deny("not_in_segment"),
     hub_facts=hub(rules=[rule(COURSE, has_tag()), rule(COURSE, in_segment())]), contact=member(tags=[TAG_VIP]))
case("every rule on the path passes", allow(),
     hub_facts=hub(rules=[rule(HUB, has_tag()), rule(COURSE, in_segment()), rule(LESSON_A1, role_at_least("member"))]),
     contact=member(tags=[TAG_VIP], segments=[SEG_ACTIVE]))

# -- any vs all
case("any: one passing condition is enough", allow(),
     hub_facts=hub(rules=[rule(COURSE, has_ent(), has_tag(), logic="any")]), contact=member(tags=[TAG_VIP]))
case("any: all failing names the first failure", deny("missing_entitlement"),
     hub_facts=hub(rules=[rule(COURSE, has_ent(), has_tag(), logic="any")]))
case("any: several drips report the earliest unlock_at", deny("drip_locked", NOW + DAY),
     hub_facts=hub(rules=[rule(COURSE, available_after(NOW + 3 * DAY), days_since_join(31),
                               available_after(NOW + 2 * DAY), logic="any")]))
case("any: a non-drip failure first names it, without unlock_at", deny("missing_tag"),
     hub_facts=hub(rules=[rule(COURSE, has_tag(), available_after(NOW + DAY), logic="any")]))
case("any: a drip failure first, then another failure", deny("drip_locked", NOW + DAY),
     hub_facts=hub(rules=[rule(COURSE, available_after(NOW + DAY), has_tag(), logic="any")]))
case("any: drip unlocked passes", allow(),
     hub_facts=hub(rules=[rule(COURSE, has_tag(), available_after(NOW), logic="any")]))
case("all: every condition passing", allow(),
     hub_facts=hub(rules=[rule(COURSE, has_tag(), in_segment(), logic="all")]),
     contact=member(tags=[TAG_VIP], segments=[SEG_ACTIVE]))
case("all: names the first failing condition", deny("not_in_segment"),
     hub_facts=hub(rules=[rule(COURSE, has_tag(), in_segment(), has_ent(), logic="all")]),
     contact=member(tags=[TAG_VIP]))
case("all: two drips report the first failing one", deny("drip_locked", NOW + 3 * DAY),
     hub_facts=hub(rules=[rule(COURSE, available_after(NOW + 3 * DAY), available_after(NOW + DAY))]))
case("all: drip passes, tag fails", deny("missing_tag"),
     hub_facts=hub(rules=[rule(COURSE, days_since_join(7), has_tag())]), contact=member(joined=JOINED))
case("an empty all rule passes", allow(), hub_facts=hub(rules=[rule(COURSE, logic="all")]))
case("an empty any rule passes", allow(), hub_facts=hub(rules=[rule(COURSE, logic="any")]))
case("an unknown logic operator acts as all", deny("missing_tag"),
     hub_facts=hub(rules=[rule(COURSE, in_segment(), has_tag(), logic="xor")]), contact=member(segments=[SEG_ACTIVE]))


# -- spaces: private entry, posting permission, segment restriction
def space(*, private: bool = False, in_target: bool = False, moderators_post_only: bool = False,
          segment: uuid.UUID | None = None) -> TargetFacts:
    return TargetFacts(SPACE, True, PATHS[SPACE], False, in_target, private, moderators_post_only, segment)


COMMUNITY = entitlement("community_access", SPACE)
case("not_a_space_member: private space, not in it", deny("not_a_space_member"), target_facts=space(private=True))
case("not_a_space_member: posting there too", deny("not_a_space_member"), action="post",
     target_facts=space(private=True))
case("private space: a member of it", allow(), target_facts=space(private=True, in_target=True))
case("private space: a target override grants entry", allow("granted_by_override"),
     contact=member(overrides=[override(SPACE)]), target_facts=space(private=True))
case("private space: a community_access entitlement on it grants entry", allow(),
     contact=member(entitlements=[COMMUNITY]), target_facts=space(private=True))
case("private space: an expired community_access entitlement does not", deny("not_a_space_member"),
     contact=member(entitlements=[entitlement("community_access", SPACE, ends=NOW)]), target_facts=space(private=True))
case("private space: community_access on another space does not", deny("not_a_space_member"),
     contact=member(entitlements=[entitlement("community_access", SECRET_SPACE)]), target_facts=space(private=True))
case("private space: its passing rule grants entry", allow(), hub_facts=hub(rules=[rule(SPACE, has_tag())]),
     contact=member(tags=[TAG_VIP]), target_facts=space(private=True))
case("private space: its failing rule names what is missing", deny("missing_tag"),
     hub_facts=hub(rules=[rule(SPACE, has_tag())]), target_facts=space(private=True))
case("private space: its rule does not bar its members", allow(), hub_facts=hub(rules=[rule(SPACE, has_tag())]),
     target_facts=space(private=True, in_target=True))
case("private space: an entitlement holder skips the space's rule", allow(),
     hub_facts=hub(rules=[rule(SPACE, has_tag())]), contact=member(entitlements=[COMMUNITY]),
     target_facts=space(private=True))
case("private space: a hub rule still applies to its members", deny("missing_tag"),
     hub_facts=hub(rules=[rule(HUB, has_tag())]), target_facts=space(private=True, in_target=True))
case("private space: hub moderators enter", allow("hub_moderator"), contact=member(role="moderator"),
     target_facts=space(private=True))
case("private space: drip on its rule reports unlock_at", deny("drip_locked", NOW + DAY),
     hub_facts=hub(rules=[rule(SPACE, available_after(NOW + DAY))]), target_facts=space(private=True))
case("posting_restricted: a member posts where only moderators post", deny("posting_restricted"), action="post",
     target_facts=space(moderators_post_only=True))
case("posting_restricted: an override does not lift it", deny("posting_restricted"), action="post",
     contact=member(overrides=[override()]), target_facts=space(moderators_post_only=True))
case("posting_permission: members still view there", allow(), target_facts=space(moderators_post_only=True))
case("posting_permission: members still react there", allow(), action="react",
     target_facts=space(moderators_post_only=True))
case("posting_permission: hub moderators post", allow("hub_moderator"), action="post",
     contact=member(role="moderator"), target_facts=space(moderators_post_only=True))
case("posting_permission: soft-ban is named first", deny("soft_banned"), action="post",
     contact=member(status="soft_banned"), target_facts=space(moderators_post_only=True))
case("not_in_segment: a segment-restricted space", deny("not_in_segment"), target_facts=space(segment=SEG_ACTIVE),
     contact=member(segments=[SEG_OTHER]))
case("segment-restricted space: in the segment", allow(), target_facts=space(segment=SEG_ACTIVE),
     contact=member(segments=[SEG_ACTIVE]))
case("segment-restricted space: anonymous is not in it", deny("not_in_segment"), subject=ANON,
     target_facts=space(segment=SEG_ACTIVE))
case("segment-restricted space: an override covers it", allow("granted_by_override"),
     contact=member(overrides=[override(SPACE)]), target_facts=space(segment=SEG_ACTIVE))
case("segment-restricted private space: entry first, then the segment", deny("not_in_segment"),
     target_facts=space(private=True, in_target=True, segment=SEG_ACTIVE))
