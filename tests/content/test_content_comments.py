"""Comments on content (docs/api.md "Comments on content"): members comment on a lesson with the
community's comments — threads, reactions, edits, deletes, reports and moderation — announced on
``content:{id}``; a locked lesson is 403 with the evaluator's reason and shows no comment; a draft,
deleted or another hub's node is 404."""

from __future__ import annotations

from typing import Any

from tests.support.api import assert_error, doc, w
from tests.support.app import Listener
from tests.support.content import Learner, Studio, by_id, open_studio, uid


async def post(client: Any, studio: Studio, who: Learner, node_id: str, body: Any = "Nice lesson",
               **attrs: Any) -> Any:
    return await client.post(f"{studio.h}/content/{node_id}/comments", json=doc("comments", {"body": body, **attrs}),
                             headers=w(who.headers))


async def listed(client: Any, studio: Studio, who: Learner, node_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"{studio.h}/content/{node_id}/comments", headers=who.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def events(listener: Listener) -> list[tuple[str, dict[str, Any]]]:
    return [(e["event"], e["data"]) for e in listener.drain()]


async def test_threads_reactions_edits_and_deletes_arrive_on_the_content_channel(client: Any, app: Any,
                                                                                  studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    lesson = await studio.node(client, "Lesson", course, body="<p>read me</p>")
    other = await studio.node(client, "Other lesson", course)
    ann, bob = await studio.learner(client), await studio.learner(client)
    with Listener(client, app, f"content:{lesson['id']}") as live:
        r = await post(client, studio, ann, lesson["id"], "First!")
        assert r.status_code == 201, r.text
        first = r.json()["data"]
        a = first["attributes"]
        assert (a["content_node_id"], a["discussion_id"], a["parent_id"], a["body"]) == (lesson["id"], None, None,
                                                                                           "First!")
        assert r.headers["location"] == f"/api/v1/hub/{studio.hub.id}/comments/{first['id']}"
        r = await post(client, studio, bob, lesson["id"], "A reply", parent_id=first["id"])
        assert r.status_code == 201, r.text
        reply = r.json()["data"]
        got = events(live)
        assert [(n, d["id"], d["content_node_id"], d["discussion_id"], d["parent_id"]) for n, d in got] == [
            ("comment.created", first["id"], lesson["id"], None, None),
            ("comment.created", reply["id"], lesson["id"], None, first["id"])]
        assert [c["id"] for c in await listed(client, studio, bob, lesson["id"])] == [first["id"], reply["id"]]

        # a parent from another lesson, an empty body: refused, nothing posted or announced
        elsewhere = (await post(client, studio, bob, other["id"])).json()["data"]
        assert_error(await post(client, studio, ann, lesson["id"], parent_id=elsewhere["id"]), 422, "invalid_parent",
                     pointer="/data/attributes/parent_id")
        assert_error(await post(client, studio, ann, lesson["id"], "  "), 422, "invalid_body")
        assert events(live) == []

        # reactions through the community's comment routes, announced here
        r = await client.put(f"{studio.h}/comments/{first['id']}/reactions/👍", headers=bob.headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["reactions"] == [{"emoji": "👍", "count": 1, "reacted": True}]
        r = await client.put(f"{studio.h}/comments/{first['id']}/reactions/👍", headers=bob.headers)  # idempotent
        assert r.json()["data"]["attributes"]["reactions"] == [{"emoji": "👍", "count": 1, "reacted": True}]
        listed_first = (await listed(client, studio, ann, lesson["id"]))[0]
        assert listed_first["attributes"]["reactions"] == [{"emoji": "👍", "count": 1, "reacted": False}]
        got = events(live)
        assert [(n, d["target_id"], d["content_node_id"], d["count"]) for n, d in got] == [
            ("reaction.added", first["id"], lesson["id"], 1)]

        # the author edits and deletes; nobody else may
        url = f"{studio.h}/comments/{first['id']}"
        assert_error(await client.patch(url, json={"data": {"type": "comments", "id": first["id"],
                                                            "attributes": {"body": "mine now"}}},
                                        headers=w(bob.headers)), 403, "not_author")
        r = await client.patch(url, json={"data": {"type": "comments", "id": first["id"],
                                                   "attributes": {"body": "First (edited)"}}}, headers=w(ann.headers))
        assert r.status_code == 200 and r.json()["data"]["attributes"]["edited_at"], r.text
        assert_error(await client.delete(url, headers=bob.headers), 403, "not_author")
        assert (await client.delete(url, headers=ann.headers)).status_code == 204
        got = events(live)
        assert [(n, d["id"]) for n, d in got] == [("comment.updated", first["id"]), ("comment.removed", first["id"])]
        assert got[0][1]["body"] == "First (edited)" and got[1][1]["removed_by"] == "author"
        assert [c["id"] for c in await listed(client, studio, bob, lesson["id"])] == [reply["id"]]
        assert_error(await client.get(url, headers=bob.headers), 404, "not_found")


async def test_a_locked_lesson_is_403_with_the_reason_and_shows_no_comment(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    lesson = await studio.node(client, "VIP lesson", course, body="<p>secret</p>")
    vip, learner = await studio.learner(client), await studio.learner(client)
    tag = await studio.tag(client, vip)
    r = await post(client, studio, learner, lesson["id"], "posted while it was open")
    assert r.status_code == 201, r.text
    early = r.json()["data"]["id"]
    await studio.rule(client, lesson["id"], ("has_tag", {"tag_id": tag}))
    reason = by_id(await studio.tree(client, learner))[lesson["id"]]["lock_reason"]
    assert reason
    for r in (await client.get(f"{studio.h}/content/{lesson['id']}/comments", headers=learner.headers),
              await post(client, studio, learner, lesson["id"], "let me in"),
              await client.get(f"{studio.h}/comments/{early}", headers=learner.headers),
              await client.put(f"{studio.h}/comments/{early}/reactions/👍", headers=learner.headers)):
        err = assert_error(r, 403, reason)
        assert "posted while it was open" not in r.text and "secret" not in r.text, err
    # the tagged member still reads and writes there
    assert [c["id"] for c in await listed(client, studio, vip, lesson["id"])] == [early]
    assert (await post(client, studio, vip, lesson["id"], "VIP chat")).status_code == 201


async def test_drafts_deleted_and_other_hubs_nodes_are_404(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    draft = await studio.node(client, "Draft", course, status="draft")
    gone = await studio.node(client, "Gone", course)
    learner = await studio.learner(client)
    assert (await post(client, studio, learner, gone["id"])).status_code == 201
    assert (await client.delete(f"{studio.c}/{gone['id']}", headers=studio.staff.headers)).status_code == 204
    elsewhere = await open_studio(client)
    foreign = await elsewhere.node(client, "Theirs")
    for node_id in (draft["id"], gone["id"], foreign["id"], uid(), "nope"):
        assert_error(await client.get(f"{studio.h}/content/{node_id}/comments", headers=learner.headers), 404,
                     "not_found")
        assert_error(await post(client, studio, learner, node_id), 404, "not_found")
    assert_error(await client.get(f"{studio.h}/content/{course['id']}/comments", headers={}), 401, "unauthenticated")


async def test_reports_and_moderation_reach_content_comments(client: Any, app: Any, studio: Studio) -> None:
    lesson = await studio.node(client, "Lesson")
    author, reporter = await studio.learner(client), await studio.learner(client)
    mod = await studio.learner(client, role="moderator")
    rude = (await post(client, studio, author, lesson["id"], "rude words")).json()["data"]["id"]
    fine = (await post(client, studio, author, lesson["id"], "kind words")).json()["data"]["id"]
    with Listener(client, app, f"content:{lesson['id']}") as live:
        # a member reports; the team resolves from its queue: the comment goes, live
        r = await client.post(f"{studio.h}/reports", json=doc("reports", {"target_type": "comment", "target_id": rude,
                                                                           "reason": "rude"}),
                              headers=w(reporter.headers))
        assert r.status_code == 201, r.text
        queue = await client.get(f"{studio.hub.url}/moderation/reports", headers=studio.staff.headers)
        entry = next(e for e in queue.json()["data"] if e["attributes"]["target_id"] == rude)
        r = await client.post(f"{studio.hub.url}/moderation/reports/{entry['id']}/resolve",
                              json=doc("report_resolutions", {"action": "remove", "reason": "rude"}), headers=studio.wh)
        assert r.status_code == 200, r.text
        assert [(n, d["id"], d["removed_by"]) for n, d in events(live)] == [("comment.removed", rude, "moderator")]
        assert [c["id"] for c in await listed(client, studio, reporter, lesson["id"])] == [fine]

        # a hub moderator removes and restores; a plain member may not
        assert_error(await client.post(f"{studio.h}/comments/{fine}/remove", json=doc("removals", {"reason": "x"}),
                                        headers=w(reporter.headers)), 403, "insufficient_role")
        r = await client.post(f"{studio.h}/comments/{fine}/remove", json=doc("removals", {"reason": "off topic"}),
                              headers=w(mod.headers))
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"], r.text
        assert await listed(client, studio, reporter, lesson["id"]) == []
        assert_error(await client.get(f"{studio.h}/comments/{fine}", headers=reporter.headers), 404, "not_found")
        r = await client.post(f"{studio.h}/comments/{fine}/restore", headers=mod.headers)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"] is None, r.text
        assert [(n, d["id"]) for n, d in events(live)] == [("comment.removed", fine), ("comment.updated", fine)]
        assert [c["id"] for c in await listed(client, studio, reporter, lesson["id"])] == [fine]

        # staff from the moderation console: the item names its lesson; removing it goes live too
        item = await client.get(f"{studio.hub.url}/moderation/comments/{fine}", headers=studio.staff.headers)
        assert item.status_code == 200, item.text
        a = item.json()["data"]["attributes"]
        assert (a["content_node_id"], a["discussion_id"], a["body"]) == (lesson["id"], None, "kind words")
        r = await client.post(f"{studio.hub.url}/moderation/comments/{fine}/remove",
                              json=doc("removals", {"reason": "spam"}), headers=studio.wh)
        assert r.status_code == 200, r.text
        assert [(n, d["id"]) for n, d in events(live)] == [("comment.removed", fine)]
