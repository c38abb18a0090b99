"""Properties of the access evaluator over arbitrary facts (hypothesis): pure, no database."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.access.evaluator import Decision, decide, effective_status
from domain.access.facts import (
    ACTIONS,
    ENTITLEMENT_KINDS,
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
from tests.support.access_facts import (
    CONTACT_ID,
    HUB_ID,
    NODES,
    NOW,
    PATHS,
    SEG_ACTIVE,
    SEG_OTHER,
    TAG_OTHER,
    TAG_VIP,
    TEAM_ID,
    U,
)

SETTINGS = settings(max_examples=300, deadline=None)
POLICY_TYPES = ("tos", "privacy_policy")
HORIZON = 20 * 86400  # seconds either side of NOW

# Times cluster around NOW and around each other so boundaries (== now, ±1 s) are hit often.
offsets = st.one_of(st.sampled_from([-86400, -1, 0, 1, 86400]), st.integers(-HORIZON, HORIZON))
times = offsets.map(lambda s: NOW + timedelta(seconds=s))
opt_times = st.none() | times
nodes = st.sampled_from(NODES)
rule_nodes = st.sampled_from([n for n in NODES for _ in range(len(PATHS[n]))])  # deeper nodes more often
target_ids = st.sampled_from([None, *(n.id for n in NODES)])

def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:  # type: ignore[type-arg]
    """Pick a strategy by weight (``one_of`` picks about evenly)."""
    return st.sampled_from([s for w, s in choices for _ in range(w)]).flatmap(lambda s: s)


def often(value: bool) -> st.SearchStrategy[bool]:
    """``value`` about four times in five: keeps the early denials from hiding the later steps."""
    return st.sampled_from([value] * 4 + [not value])


conditions = st.one_of(
    st.builds(lambda k, t: Condition("has_entitlement", {"kind": k, "target_id": t and str(t)}),
              st.sampled_from(ENTITLEMENT_KINDS), target_ids),
    st.builds(lambda t: Condition("has_tag", {"tag_id": str(t)}), st.sampled_from([TAG_VIP, TAG_OTHER])),
    st.builds(lambda s: Condition("in_segment", {"segment_id": str(s)}), st.sampled_from([SEG_ACTIVE, SEG_OTHER])),
    st.builds(lambda r: Condition("role_at_least", {"role": r}),
              st.sampled_from(["member", "moderator", "admin", "owner"])),
    st.builds(lambda d: Condition("days_since_join", {"days": d}), st.integers(0, 40)),
    st.builds(lambda at, iso: Condition("available_after", {"at": at.isoformat() if iso else at}), times, st.booleans()),
    st.builds(lambda p: Condition("policy_accepted", {"policy_type": p}), st.sampled_from(POLICY_TYPES)),
    st.just(Condition("moon_phase", {})),
)
rules = st.builds(
    lambda n, logic, conds, i: RuleFact(U(5000 + i), n, logic, tuple(conds)),
    rule_nodes, st.sampled_from(["any", "all"]), st.lists(conditions, max_size=3), st.integers(0, 10**6),
)


@st.composite
def hub_facts(draw: st.DrawFn, on_path: tuple[Target, ...] = ()) -> HubFacts:
    """Rules go on random nodes, mostly on ``on_path`` (the target's path) so that they matter."""
    versions = draw(st.dictionaries(st.sampled_from(POLICY_TYPES), st.integers(1, 2)))
    by_target: dict[Target, tuple[RuleFact, ...]] = {}
    for r in draw(st.lists(rules, max_size=4)):
        if on_path and draw(often(True)):
            r = dataclasses.replace(r, target=draw(st.sampled_from(on_path)))
        by_target[r.target] = (*by_target.get(r.target, ()), r)
    required = draw(st.sets(st.sampled_from(POLICY_TYPES)) if draw(often(False)) else st.just(set()))
    return HubFacts(HUB_ID, TEAM_ID, draw(often(False)), versions, frozenset(required), by_target)


entitlements = st.builds(
    lambda k, t, s, e, r: EntitlementFact(uuid.uuid4(), k, t, s, e, r),
    st.sampled_from(ENTITLEMENT_KINDS), target_ids, opt_times, opt_times, opt_times,
)
overrides = st.builds(
    lambda full, n, exp: OverrideFact(uuid.uuid4(), "full" if full else "target", None if full else n, exp),
    st.booleans(), nodes, opt_times,
)
memberships = st.builds(
    MembershipFacts,
    role=st.sampled_from(["member"] * 8 + ["moderator", "admin"]),
    status=st.sampled_from(["active", "active", "active", "banned", "soft_banned", "left"]),
    status_expires_at=opt_times,
    joined_at=times,
    accepted_policies=st.dictionaries(st.sampled_from(POLICY_TYPES), st.integers(1, 2)),
)
contacts = st.builds(
    ContactFacts,
    contact_id=st.just(CONTACT_ID),
    membership=weighted((4, memberships), (1, st.none())),
    entitlements=st.lists(entitlements, max_size=3).map(tuple),
    tag_ids=st.frozensets(st.sampled_from([TAG_VIP, TAG_OTHER, U(102)])),
    segment_ids=st.frozensets(st.sampled_from([SEG_ACTIVE, SEG_OTHER, U(202)])),
    overrides=st.lists(overrides, max_size=2).map(tuple),
)


@st.composite
def target_facts(draw: st.DrawFn) -> TargetFacts:
    t = draw(nodes)
    exists = draw(st.sampled_from([True] * 9 + [False]))
    if t.type != "space":
        return TargetFacts(t, exists, PATHS[t], draw(often(False)), draw(st.booleans()))
    # spaces also draw the community flags: private, moderators-only posting, a segment restriction
    return TargetFacts(t, exists, PATHS[t], draw(often(False)), draw(st.booleans()), draw(st.booleans()),
                       draw(often(False)), draw(st.sampled_from([None, None, SEG_ACTIVE, SEG_OTHER])))


access_facts = target_facts().flatmap(lambda tf: st.builds(
    AccessFacts, hub=hub_facts(tf.path), contact=weighted((4, contacts), (1, st.none())), target=st.just(tf)))
member_subjects = st.just(Subject.member(CONTACT_ID))
subjects = weighted(
    (12, member_subjects),
    (2, st.just(Subject.anonymous())),
    (1, st.sampled_from(["owner", "admin", "staff", "moderator", "viewer"]).map(Subject.staff)),
    (1, st.frozensets(st.sampled_from(["hubs:read", "content:write", "orders:read"])).map(Subject.api_key)),
)
actions = st.sampled_from(["view"] * 4 + [a for a in ACTIONS if a != "view"])


def key(d: Decision) -> tuple[object, ...]:
    return (d.allowed, d.reason, d.unlock_at, d.hidden)


def with_contact(f: AccessFacts, **changes: object) -> AccessFacts:
    contact = f.contact or ContactFacts(CONTACT_ID, None)
    return dataclasses.replace(f, contact=dataclasses.replace(contact, **changes))


# (a) a member whose effective status is banned is always denied -------------------------------------------

@SETTINGS
@given(access_facts, memberships, actions, times)
def test_a_banned_member_is_always_denied(f: AccessFacts, m: MembershipFacts, action: str, now: datetime) -> None:
    m = dataclasses.replace(m, status="banned")
    f = with_contact(f, membership=m)
    d = decide(Subject.member(CONTACT_ID), action, f, now)
    if effective_status(m.status, m.status_expires_at, now) == "banned":
        assert not d.allowed
        assert d.reason in {"banned", "secret", "not_found"}
        assert (d.reason != "banned") == d.hidden
    else:  # the ban ended at status_expires_at: not a ban any more
        assert d.reason != "banned"


# (b) adding an entitlement or an override never turns allow into deny -------------------------------------

@SETTINGS
@given(access_facts, subjects, actions, times, entitlements)
def test_adding_an_entitlement_never_takes_access_away(f: AccessFacts, subject: Subject, action: str,
                                                        now: datetime, e: EntitlementFact) -> None:
    before = decide(subject, action, f, now)
    after = decide(subject, action, with_contact(f, entitlements=(*(f.contact.entitlements if f.contact else ()), e)),
                   now)
    if before.allowed:
        assert after.allowed


@SETTINGS
@given(access_facts, subjects, actions, times, overrides)
def test_adding_an_override_never_takes_access_away(f: AccessFacts, subject: Subject, action: str,
                                                     now: datetime, o: OverrideFact) -> None:
    before = decide(subject, action, f, now)
    after = decide(subject, action, with_contact(f, overrides=(*(f.contact.overrides if f.contact else ()), o)), now)
    if before.allowed:
        assert after.allowed


# (c) deterministic, and explain changes nothing but the trace ---------------------------------------------

@SETTINGS
@given(access_facts, subjects, actions, times)
def test_evaluation_is_deterministic_and_explain_only_adds_a_trace(f: AccessFacts, subject: Subject, action: str,
                                                                   now: datetime) -> None:
    a, b = decide(subject, action, f, now), decide(subject, action, f, now)
    ea, eb = decide(subject, action, f, now, explain=True), decide(subject, action, f, now, explain=True)
    assert key(a) == key(b) == key(ea) == key(eb)
    assert a.trace == b.trace == ()
    assert ea.trace == eb.trace and ea.trace


# (d) hidden is never allowed; allowed never carries unlock_at; secret targets never answer "forbidden" -----

@SETTINGS
@given(access_facts, subjects, actions, times)
def test_decision_shape(f: AccessFacts, subject: Subject, action: str, now: datetime) -> None:
    d = decide(subject, action, f, now)
    if d.hidden:
        assert not d.allowed
        assert d.reason in {"secret", "not_found"}
    if d.allowed:
        assert d.unlock_at is None and not d.hidden
    if d.unlock_at is not None:
        assert d.reason == "drip_locked" and d.unlock_at > now
    if d.reason == "drip_locked":
        assert d.unlock_at is not None


@SETTINGS
@given(access_facts, subjects, actions, times)
def test_a_secret_target_the_subject_may_not_see_answers_not_found(f: AccessFacts, subject: Subject, action: str,
                                                                   now: datetime) -> None:
    tf = f.target
    contact = f.contact if subject.kind == "member" else None
    covered = contact is not None and any(
        o.active_at(now) and (o.scope == "full" or o.target in tf.path) for o in contact.overrides)
    d = decide(subject, action, f, now)
    if subject.kind in ("member", "anonymous") and tf.secret and not tf.in_target and not covered:
        assert not d.allowed and d.hidden


# a former member is exactly a non-member -------------------------------------------------------------------

@SETTINGS
@given(access_facts, memberships, subjects, actions, times)
def test_a_left_member_is_treated_as_a_non_member(f: AccessFacts, m: MembershipFacts, subject: Subject,
                                                  action: str, now: datetime) -> None:
    left = decide(subject, action, with_contact(f, membership=dataclasses.replace(m, status="left")), now)
    never = decide(subject, action, with_contact(f, membership=None), now)
    assert key(left) == key(never)


# (e) drip: at unlock_at, that unlock is over ----------------------------------------------------------------

@SETTINGS
@given(access_facts, subjects, actions, times)
def test_at_unlock_at_the_same_drip_no_longer_locks(f: AccessFacts, subject: Subject, action: str,
                                                    now: datetime) -> None:
    d = decide(subject, action, f, now)
    if d.reason == "drip_locked":
        assert d.unlock_at is not None and d.unlock_at > now
        later = decide(subject, action, f, d.unlock_at)
        assert not (later.reason == "drip_locked" and later.unlock_at == d.unlock_at)


@SETTINGS
@given(access_facts, actions, times, times)
def test_a_drip_only_rule_opens_exactly_at_unlock_at(f: AccessFacts, action: str, now: datetime,
                                                     joined: datetime) -> None:
    """With nothing else in the way (public hub, plain active member, one drip rule), the lock lifts at
    unlock_at and not a second before."""
    m = MembershipFacts("member", "active", None, joined, {})
    r = RuleFact(U(7777), f.target.target, "any", (Condition("days_since_join", {"days": 3}),
                                                     Condition("available_after", {"at": NOW})))
    hub = HubFacts(HUB_ID, TEAM_ID, False, {}, frozenset(), {f.target.target: (r,)})
    g = AccessFacts(hub, ContactFacts(CONTACT_ID, m), dataclasses.replace(f.target, exists=True, secret=False, private=False,
                                                                     moderators_post_only=False, segment_id=None))
    d = decide(Subject.member(CONTACT_ID), "view", g, now)
    if d.reason == "drip_locked":
        assert d.unlock_at == min(joined + timedelta(days=3), NOW)
        assert not decide(Subject.member(CONTACT_ID), "view", g, d.unlock_at - timedelta(seconds=1)).allowed
        assert decide(Subject.member(CONTACT_ID), "view", g, d.unlock_at).allowed
    else:
        assert d.allowed and now >= min(joined + timedelta(days=3), NOW)
