"""The content tree as a member sees it (H/content): published nodes only, each with the access
evaluator's decision — locked, lock_reason, unlock_at — for drip by days since joining (at the
boundary second), by date, by entitlement, by tag and by segment; a rule on a course covers its
lessons unless a lesson has its own; a locked node's body never appears in any response."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.api import assert_error
from tests.support.content import Studio, by_id, set_joined_at, uid

SECRET = "<p>the secret lesson body</p>"


def freeze(monkeypatch: pytest.MonkeyPatch, clock: Any, at: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: at)


async def test_drafts_are_hidden_and_bodies_shown_when_unlocked(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    module = await studio.node(client, "Module", course, node_type="module")
    lesson = await studio.node(client, "Lesson", module, body="<p>open</p>")
    draft = await studio.node(client, "Draft", course, status="draft")
    await studio.node(client, "Under a draft", draft)
    learner = await studio.learner(client)
    tree = await studio.tree(client, learner)
    assert [n["id"] for n in tree["data"]] == [course["id"], module["id"], lesson["id"]]
    a = by_id(tree)[lesson["id"]]
    assert (a["locked"], a["lock_reason"], a["unlock_at"], a["body"], a["depth"]) == (False, None, None,
                                                                                      "<p>open</p>", 2)
    r = await client.get(f"{studio.h}/content/{lesson['id']}", headers=learner.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["body"] == "<p>open</p>"
    for hidden in (draft["id"], uid(), "nope"):
        assert_error(await client.get(f"{studio.h}/content/{hidden}", headers=learner.headers), 404, "not_found")
    assert_error(await client.get(f"{studio.h}/content", headers={}), 401, "unauthenticated")


async def test_drip_by_days_since_join_unlocks_at_the_boundary_second(client: Any, app: Any, clock: Any,
                                                                      studio: Studio,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    course = await studio.node(client, "Course", node_type="course")
    week1 = await studio.node(client, "Week 1", course, node_type="module")
    week2 = await studio.node(client, "Week 2", course, node_type="module")
    lesson = await studio.node(client, "Lesson 2.1", week2, body=SECRET)
    await studio.rule(client, week2["id"], ("days_since_join", {"days": 7}))
    learner = await studio.learner(client)
    now = clock.now().replace(microsecond=0)
    set_joined_at(client, app, studio, learner, now - timedelta(days=7) + timedelta(seconds=1))
    unlock = learner.joined_at + timedelta(days=7)

    freeze(monkeypatch, clock, unlock - timedelta(seconds=1))
    tree = await studio.tree(client, learner)
    nodes = by_id(tree)
    assert not nodes[week1["id"]]["locked"]
    for node in (week2, lesson):
        a = nodes[node["id"]]
        assert (a["locked"], a["lock_reason"], a["body"]) == (True, "drip_locked", None)
        assert datetime.fromisoformat(a["unlock_at"]) == unlock
    assert nodes[lesson["id"]]["title"] == "Lesson 2.1"
    assert "secret" not in str(tree)
    r = await client.get(f"{studio.h}/content/{lesson['id']}", headers=learner.headers)
    err = assert_error(r, 403, "drip_locked")
    assert datetime.fromisoformat(err["meta"]["unlock_at"]) == unlock and "secret" not in r.text

    freeze(monkeypatch, clock, unlock)
    nodes = by_id(await studio.tree(client, learner))
    assert (nodes[lesson["id"]]["locked"], nodes[lesson["id"]]["body"]) == (False, SECRET)
    r = await client.get(f"{studio.h}/content/{lesson['id']}", headers=learner.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["body"] == SECRET


async def test_drip_by_date(client: Any, clock: Any, studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    at = clock.now().replace(microsecond=0) + timedelta(seconds=2)
    lesson = await studio.node(client, "Launch day", body=SECRET)
    await studio.rule(client, lesson["id"], ("available_after", {"at": at.isoformat()}))
    learner = await studio.learner(client)
    freeze(monkeypatch, clock, at - timedelta(seconds=1))
    a = by_id(await studio.tree(client, learner))[lesson["id"]]
    assert (a["locked"], a["lock_reason"], a["body"]) == (True, "drip_locked", None)
    assert datetime.fromisoformat(a["unlock_at"]) == at
    freeze(monkeypatch, clock, at)
    assert by_id(await studio.tree(client, learner))[lesson["id"]]["body"] == SECRET


async def test_a_course_rule_covers_its_lessons_unless_a_lesson_has_its_own(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Paid course", node_type="course")
    lesson = await studio.node(client, "Paid lesson", course, body=SECRET)
    preview = await studio.node(client, "Free preview", course, body="<p>free</p>")
    await studio.rule(client, course["id"], ("has_entitlement", {"kind": "content_enrollment",
                                                                  "target_id": course["id"]}))
    await studio.rule(client, preview["id"], ("role_at_least", {"role": "member"}))
    learner = await studio.learner(client)
    nodes = by_id(await studio.tree(client, learner))
    assert (nodes[course["id"]]["locked"], nodes[course["id"]]["lock_reason"]) == (True, "missing_entitlement")
    assert (nodes[lesson["id"]]["locked"], nodes[lesson["id"]]["body"]) == (True, None)
    assert (nodes[preview["id"]]["locked"], nodes[preview["id"]]["body"]) == (False, "<p>free</p>")

    await studio.entitle(client, learner, "content_enrollment", course["id"])
    nodes = by_id(await studio.tree(client, learner))
    assert (nodes[lesson["id"]]["locked"], nodes[lesson["id"]]["body"]) == (False, SECRET)
    other = await studio.learner(client)
    assert by_id(await studio.tree(client, other))[lesson["id"]]["locked"]


async def test_tag_and_segment_rules(client: Any, studio: Studio) -> None:
    vip = await studio.node(client, "VIP lounge", body=SECRET)
    cohort = await studio.node(client, "Cohort room", body=SECRET)
    tag_id = await studio.tag(client)
    await studio.rule(client, vip["id"], ("has_tag", {"tag_id": tag_id}))
    await studio.rule(client, cohort["id"], ("in_segment", {"segment_id": await studio.segment_of_tag(client, tag_id)}))
    learner = await studio.learner(client)
    nodes = by_id(await studio.tree(client, learner))
    assert (nodes[vip["id"]]["lock_reason"], nodes[cohort["id"]]["lock_reason"]) == ("missing_tag", "not_in_segment")
    assert "secret" not in str(nodes)
    await studio.tag(client, learner, tag_id)
    nodes = by_id(await studio.tree(client, learner))
    assert (nodes[vip["id"]]["body"], nodes[cohort["id"]]["body"]) == (SECRET, SECRET)
