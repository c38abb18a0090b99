"""Progress: a member marks lessons complete (idempotent), percent per node and per course,
"continue where you left off", staff see a contact's progress, content.completed and
course.completed on the team channel after commit (never a body), and the completed:<slug> tag
the creator can segment on."""

from __future__ import annotations

from typing import Any

from tests.support.api import assert_error, doc
from tests.support.app import Listener
from tests.support.content import Learner, Studio, by_id, open_studio, uid

A = "/data/attributes/"


async def complete(client: Any, studio: Studio, learner: Learner, node_id: str, completed: Any = True) -> Any:
    return await client.post(f"{studio.h}/content/{node_id}/progress",
                             json=doc("content_progress", {"completed": completed}),
                             headers=studio.wh | learner.headers)


async def test_progress_percent_continue_and_events(client: Any, app: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    m1 = await studio.node(client, "M1", course, node_type="module")
    m2 = await studio.node(client, "M2", course, node_type="module")
    l1, l2 = await studio.node(client, "L1", m1, body="<p>one</p>"), await studio.node(client, "L2", m1)
    l3 = await studio.node(client, "L3", m2, body="<p>secret three</p>")
    learner = await studio.learner(client)
    tree = await studio.tree(client, learner)
    assert tree["meta"] == {"continue_id": l1["id"], "lessons": 3, "lessons_completed": 0, "percent": 0}

    with Listener(client, app, f"team:{studio.staff.team_id}") as team_events:
        r = await complete(client, studio, learner, l1["id"])
        assert r.status_code == 200, r.text
        a = r.json()["data"]["attributes"]
        assert (r.json()["data"]["type"], a["node_id"], a["completed"], a["course_id"], a["course_percent"]) == (
            "content_progress", l1["id"], True, course["id"], 33)
        first_at = a["completed_at"]
        again = await complete(client, studio, learner, l1["id"])
        assert again.json()["data"]["attributes"]["completed_at"] == first_at
        events = team_events.drain()
        assert [e["event"] for e in events] == ["content.completed"]
        data = events[0]["data"]
        assert (data["node_id"], data["contact_id"], data["course_id"], data["course_percent"], data["title"]) == (
            l1["id"], learner.contact_id, course["id"], 33, "L1")
        assert "body" not in data

        nodes = by_id(await studio.tree(client, learner))
        assert (nodes[l1["id"]]["completed"], nodes[m1["id"]]["percent"], nodes[course["id"]]["percent"]) == (
            True, 50, 33)
        assert (await studio.tree(client, learner))["meta"]["continue_id"] == l2["id"]

        assert (await complete(client, studio, learner, l2["id"])).status_code == 200
        r = await complete(client, studio, learner, l3["id"])
        assert r.json()["data"]["attributes"]["course_percent"] == 100
        events = team_events.drain()
        assert [e["event"] for e in events] == ["content.completed", "content.completed", "course.completed"]
        done = events[-1]["data"]
        assert (done["course_id"], done["contact_id"], done["title"]) == (course["id"], learner.contact_id, "Course")
        assert "secret" not in str(events)
        assert (await complete(client, studio, learner, l3["id"])).status_code == 200
        assert team_events.drain() == []  # already complete: nothing new

    tree = await studio.tree(client, learner)
    assert tree["meta"] == {"continue_id": None, "lessons": 3, "lessons_completed": 3, "percent": 100}

    # the completed:<slug> tag, which a segment can name
    tags = (await client.get(f"{studio.t}/tags", params={"filter[name]": "completed:course"},
                             headers=studio.staff.headers)).json()["data"]
    assert [t["id"] for t in tags] == [done["tag_id"]]
    seg = await studio.segment_of_tag(client, done["tag_id"])
    r = await client.get(f"{studio.t}/segments/{seg}/members", headers=studio.staff.headers)
    assert [m["attributes"]["contact_id"] for m in r.json()["data"]] == [learner.contact_id]

    r = await complete(client, studio, learner, l3["id"], completed=False)
    assert (r.json()["data"]["attributes"]["completed"], r.json()["data"]["attributes"]["course_percent"]) == (
        False, 66)
    assert (await studio.tree(client, learner))["meta"]["continue_id"] == l3["id"]


async def test_staff_see_a_contacts_progress(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    lesson = await studio.node(client, "Lesson", course, body="<p>b</p>")
    locked = await studio.node(client, "Later", course)
    await studio.rule(client, locked["id"], ("days_since_join", {"days": 30}))
    learner = await studio.learner(client)
    assert (await complete(client, studio, learner, lesson["id"])).status_code == 200
    url = f"{studio.hub.url}/content-progress/{learner.contact_id}"
    r = await client.get(url, headers=studio.staff.headers)
    assert r.status_code == 200, r.text
    nodes = by_id(r.json())
    assert (nodes[lesson["id"]]["completed"], nodes[lesson["id"]]["body"]) == (True, None)
    assert (nodes[locked["id"]]["locked"], nodes[locked["id"]]["lock_reason"]) == (True, "drip_locked")
    assert r.json()["meta"]["percent"] == 50
    assert_error(await client.get(f"{studio.hub.url}/content-progress/{uid()}", headers=studio.staff.headers), 404,
                 "not_found")
    stranger = await open_studio(client)
    assert_error(await client.get(f"{stranger.hub.url}/content-progress/{learner.contact_id}",
                                  headers=stranger.staff.headers), 404, "not_found")
    assert_error(await client.get(url, headers=stranger.staff.headers), 404, "not_found")


async def test_progress_on_locked_hidden_or_invalid_nodes_is_refused(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    locked = await studio.node(client, "Locked", course)
    await studio.rule(client, locked["id"], ("days_since_join", {"days": 30}))
    draft = await studio.node(client, "Draft", course, status="draft")
    open_lesson = await studio.node(client, "Open", course)
    learner = await studio.learner(client)
    err = assert_error(await complete(client, studio, learner, locked["id"]), 403, "drip_locked")
    assert err["meta"]["unlock_at"]
    for hidden in (draft["id"], uid(), "nope"):
        assert_error(await complete(client, studio, learner, hidden), 404, "not_found")
    assert_error(await complete(client, studio, learner, open_lesson["id"], completed="yes"), 422, "invalid_value",
                 A + "completed")
    nodes = by_id(await studio.tree(client, learner))
    assert not any(n["completed"] for n in nodes.values())
