"""Team staff on a hub's content from the moderation console
(``T/hubs/{hub_id}/moderation/discussions|comments|messages``): reading what was reported, the
discussions list, and remove / restore / pin / lock — each change audit-logged and announced once
(``moderation.action`` on the team channel, the discussion's own events on the member channels),
repeats changing nothing; scopes and other hubs."""

from __future__ import annotations

from typing import Any

from tests.support.api import add_staff, create_key
from tests.support.community import (
    Listener,
    assert_error,
    doc,
    events_of,
    make_discussion,
    make_space,
    new_hub,
    w,
    world,
)


def mod(wd: Any, suffix: str) -> str:
    return f"{wd.hub.url}/moderation{suffix}"


async def setup(client: Any, app: Any, clock: Any) -> tuple[Any, Any, str, str, str]:
    wd = await world(client, 2)
    author = wd.members[0]
    space = make_space(client, app, clock, wd.hub.id)
    disc = make_discussion(client, app, clock, wd.hub.id, space, author.contact_id)
    r = await client.post(author.url(f"/discussions/{disc}/comments"), json=doc("comments", {"body": "A comment"}),
                          headers=author.wh)
    assert r.status_code == 201, r.text
    return wd, author, space, disc, r.json()["data"]["id"]


async def test_reading_items_and_the_discussions_list(client, app, clock):
    wd, author, space, disc, comment = await setup(client, app, clock)
    r = await client.get(mod(wd, f"/discussions/{disc}"), headers=wd.staff.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "moderation_items" and data["id"] == disc
    assert data["links"]["self"] == mod(wd, f"/discussions/{disc}")
    a = data["attributes"]
    assert (a["target_type"], a["title"], a["body"], a["space_id"], a["author_contact_id"], a["is_pinned"]) == (
        "discussion", "A discussion", "Body", space, author.contact_id, False)
    c = (await client.get(mod(wd, f"/comments/{comment}"), headers=wd.staff.headers)).json()["data"]["attributes"]
    assert (c["target_type"], c["body"], c["discussion_id"], c["title"]) == ("comment", "A comment", disc, None)
    r = await client.post(author.url("/conversations"), json=doc("conversations", {"participant_ids": [wd.members[1].contact_id]}),
                          headers=author.wh)
    msg = (await client.post(author.url(f"/conversations/{r.json()['data']['id']}/messages"),
                             json=doc("messages", {"body": "psst"}), headers=author.wh)).json()["data"]["id"]
    m = (await client.get(mod(wd, f"/messages/{msg}"), headers=wd.staff.headers)).json()["data"]["attributes"]
    assert (m["target_type"], m["body"], m["conversation_id"]) == ("message", "psst", r.json()["data"]["id"])
    listed = (await client.get(mod(wd, "/discussions"), headers=wd.staff.headers)).json()
    assert [d["id"] for d in listed["data"]] == [disc]
    # another hub's items are not found; a draft is its author's alone
    other = await new_hub(client, wd.staff)
    assert_error(await client.get(f"{other.url}/moderation/discussions/{disc}", headers=wd.staff.headers), 404, "not_found")
    draft = make_discussion(client, app, clock, wd.hub.id, space, author.contact_id, status="draft")
    assert_error(await client.get(mod(wd, f"/discussions/{draft}"), headers=wd.staff.headers), 404, "not_found")
    assert_error(await client.get(mod(wd, "/discussions/nope"), headers=wd.staff.headers), 404, "not_found")


async def test_remove_restore_pin_lock_are_live_audited_and_idempotent(client, app, clock):
    wd, author, space, disc, comment = await setup(client, app, clock)
    team = f"team:{wd.staff.team_id}"
    with Listener(client, app, team) as staff_events, Listener(client, app, f"space:{space}") as members:
        r = await client.post(mod(wd, f"/discussions/{disc}/pin"), headers=wd.staff.headers)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["is_pinned"] is True
        assert (await client.post(mod(wd, f"/discussions/{disc}/pin"), headers=wd.staff.headers)).status_code == 200
        r = await client.post(mod(wd, f"/discussions/{disc}/lock"), headers=wd.staff.headers)
        assert r.json()["data"]["attributes"]["is_locked"] is True
        assert_error(await client.post(author.url(f"/discussions/{disc}/comments"), headers=author.wh,
                                       json=doc("comments", {"body": "late"})), 409, "discussion_locked")
        assert (await client.delete(mod(wd, f"/discussions/{disc}/lock"), headers=wd.staff.headers)).status_code == 200
        assert (await client.delete(mod(wd, f"/discussions/{disc}/pin"), headers=wd.staff.headers)).status_code == 200
        r = await client.post(mod(wd, f"/discussions/{disc}/remove"), headers=w(wd.staff.headers),
                              json=doc("removals", {"reason": "Off topic"}))
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removal_reason"] == "Off topic"
        assert (await client.post(mod(wd, f"/discussions/{disc}/remove"), headers=w(wd.staff.headers),
                                  json=doc("removals", {}))).status_code == 200
        assert_error(await client.get(author.url(f"/discussions/{disc}"), headers=wd.members[1].headers), 404, "not_found")
        listed = (await client.get(mod(wd, "/discussions?filter[removed]=true"), headers=wd.staff.headers)).json()["data"]
        assert [d["id"] for d in listed] == [disc]
        r = await client.post(mod(wd, f"/discussions/{disc}/restore"), headers=wd.staff.headers)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"] is None
        actions = [(e, d["action"], d["target_type"], d["report_id"]) for _, e, d in events_of(staff_events)]
        assert actions == [("moderation.action", a, "discussion", None)
                           for a in ("pin", "lock", "unlock", "unpin", "remove", "restore")]
        assert [e for _, e, _ in events_of(members) if e != "discussion.activity"] == [
            "discussion.updated", "discussion.updated", "discussion.updated", "discussion.updated",
            "discussion.removed", "discussion.updated"]

        r = await client.post(mod(wd, f"/comments/{comment}/remove"), headers=w(wd.staff.headers), json=doc("removals", {}))
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"]
        assert (await client.get(author.url(f"/discussions/{disc}"), headers=author.headers)).json()["data"]["attributes"]["comment_count"] == 0
        assert (await client.post(mod(wd, f"/comments/{comment}/restore"), headers=wd.staff.headers)).status_code == 200
        assert (await client.get(author.url(f"/discussions/{disc}"), headers=author.headers)).json()["data"]["attributes"]["comment_count"] == 1
    audit = (await client.get(mod(wd, "/audit-log"), headers=wd.staff.headers)).json()["data"]
    assert [(a["attributes"]["action"], a["attributes"]["target_type"]) for a in audit][:3] == [
        ("restore", "comment"), ("remove", "comment"), ("restore", "discussion")]
    assert audit[3]["attributes"]["reason"] == "Off topic"
    assert audit[0]["attributes"]["actor_user_id"] == wd.staff.tokens["user"]["id"]


async def test_what_fits_what_and_who_may(client, app, clock):
    wd, author, space, disc, comment = await setup(client, app, clock)
    assert_error(await client.post(mod(wd, f"/comments/{comment}/remove"), headers=w(wd.staff.headers),
                                   json=doc("removals", {"reason": "x" * 1001})), 422, "invalid_reason")
    moderator = await add_staff(client, wd.staff, wd.staff.team_id, "moderator")
    assert (await client.post(mod(wd, f"/discussions/{disc}/pin"), headers=moderator.headers)).status_code == 200
    reader = await create_key(client, wd.staff, wd.staff.team_id, ["moderation:read"])
    headers = {"Authorization": f"Bearer {reader['secret']}"}
    assert (await client.get(mod(wd, f"/discussions/{disc}"), headers=headers)).status_code == 200
    assert_error(await client.post(mod(wd, f"/discussions/{disc}/lock"), headers=headers), 403, "insufficient_scope")
    assert_error(await client.get(mod(wd, f"/discussions/{disc}"), headers=author.headers), 401, "wrong_token_type")
