"""``decide(..., explain=True)``: the trace a creator reads to see why a member is locked out."""

from __future__ import annotations

import pytest

from domain.access.evaluator import Step, decide
from tests.support.access_cases import CASES, Case
from tests.support.access_facts import (
    ANON,
    COURSE,
    DAY,
    HUB,
    LESSON_A1,
    MEMBER,
    MODULE_A,
    NOW,
    SECRET_SPACE,
    TAG_VIP,
    U,
    available_after,
    facts,
    has_ent,
    has_tag,
    hub,
    member,
    override,
    rule,
    staff,
    target,
)


def names(trace: tuple[Step, ...]) -> list[tuple[str, str]]:
    return [(s.step, s.outcome) for s in trace]


def test_allowed_through_the_rules_names_every_check_in_order() -> None:
    r1, r2 = rule(HUB, has_tag(), id=U(900)), rule(MODULE_A, has_ent(), has_tag(), logic="any", id=U(901))
    f = facts(hub(policies={"tos": 1}, required=["tos"], rules=[r1, r2]),
              member(tags=[TAG_VIP], accepted={"tos": 1}), target(LESSON_A1))
    d = decide(MEMBER, "view", f, NOW, explain=True)
    assert (d.allowed, d.reason) == (True, "allowed")
    assert names(d.trace) == [
        ("target", "pass"), ("team_role", "skip"), ("secret", "pass"), ("banned", "pass"), ("membership", "pass"),
        ("policies", "pass"), ("soft_ban", "pass"), ("hub_role", "pass"), ("override", "skip"),
        ("condition", "pass"), ("rule", "pass"),                         # the hub's rule
        ("condition", "fail"), ("condition", "pass"), ("rule", "pass"),  # any: the tag saves it
        ("rules", "pass"),
    ]
    conditions = [s for s in d.trace if s.step == "condition"]
    assert [s.rule_id for s in conditions] == [U(900), U(901), U(901)]
    assert conditions[0].condition == {"condition_type": "has_tag", "condition_data": {"tag_id": str(TAG_VIP)}}
    assert conditions[1].condition == {"condition_type": "has_entitlement",
                                       "condition_data": {"kind": "content_enrollment", "target_id": str(COURSE.id)}}
    assert conditions[1].detail == "missing_entitlement"
    assert [s.rule_id for s in d.trace if s.step == "rule"] == [U(900), U(901)]


def test_a_failing_all_rule_stops_at_the_first_failing_condition() -> None:
    r = rule(COURSE, has_tag(), available_after(NOW + DAY), has_ent(), id=U(902))
    d = decide(MEMBER, "view", facts(hub(rules=[r]), member(tags=[TAG_VIP])), NOW, explain=True)
    assert (d.allowed, d.reason, d.unlock_at) == (False, "drip_locked", NOW + DAY)
    tail = d.trace[-3:]
    assert names(tail) == [("condition", "pass"), ("condition", "fail"), ("rule", "fail")]
    assert tail[1].condition == {"condition_type": "available_after", "condition_data": {"at": NOW + DAY}}
    assert tail[1].detail == "drip_locked" and tail[2].detail == "drip_locked"
    assert {s.rule_id for s in tail} == {U(902)}
    assert not any(s.step == "rules" for s in d.trace)


def test_the_trace_copies_condition_data() -> None:
    r = rule(COURSE, has_tag())
    d = decide(MEMBER, "view", facts(hub(rules=[r])), NOW, explain=True)
    step = next(s for s in d.trace if s.step == "condition")
    assert step.condition is not None
    step.condition["condition_data"]["tag_id"] = "changed"  # type: ignore[index]
    assert r.conditions[0].data == {"tag_id": str(TAG_VIP)}


@pytest.mark.parametrize(("subject", "contact", "tf", "expected"), [
    (MEMBER, member(status="banned"), target(), [("target", "pass"), ("team_role", "skip"), ("secret", "pass"),
                                                 ("banned", "fail")]),
    (staff("owner"), None, target(), [("target", "pass"), ("team_role", "allow")]),
    (MEMBER, member(), target(exists=False), [("target", "fail")]),
    (MEMBER, member(), target(SECRET_SPACE, secret=True), [("target", "pass"), ("team_role", "skip"),
                                                           ("secret", "fail")]),
    (ANON, None, target(), [("target", "pass"), ("team_role", "skip"), ("secret", "pass"), ("banned", "pass"),
                            ("membership", "pass"), ("soft_ban", "pass"), ("hub_role", "pass"), ("override", "skip"),
                            ("rules", "pass")]),
    (MEMBER, member(overrides=[override()]), target(), [
        ("target", "pass"), ("team_role", "skip"), ("secret", "pass"), ("banned", "pass"), ("membership", "pass"),
        ("policies", "pass"), ("soft_ban", "pass"), ("hub_role", "pass"), ("override", "allow")]),
], ids=["banned", "staff", "not_found", "secret", "anonymous", "override"])
def test_the_trace_ends_at_the_deciding_step(subject, contact, tf, expected) -> None:  # type: ignore[no-untyped-def]
    d = decide(subject, "view", facts(hub(), contact, tf), NOW, explain=True)
    assert names(d.trace) == expected


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_explain_does_not_change_the_decision(c: Case) -> None:
    plain = decide(c.subject, c.action, c.facts, c.now)
    explained = decide(c.subject, c.action, c.facts, c.now, explain=True)
    assert plain.trace == ()
    assert explained.trace, "explain=True always says something"
    assert (plain.allowed, plain.reason, plain.unlock_at, plain.hidden) == (
        explained.allowed, explained.reason, explained.unlock_at, explained.hidden)
    assert plain == explained
    assert all(s.outcome in {"pass", "fail", "allow", "skip"} for s in explained.trace)
    # the last step is the one that decided
    last = explained.trace[-1]
    assert last.outcome in ({"allow", "pass"} if explained.allowed else {"fail"})
