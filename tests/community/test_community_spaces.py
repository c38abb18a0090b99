"""Community spaces: team-side CRUD and space members; what members see (secret spaces absent or
404, private ones locked until added or granted by a rule or entitlement, segment-restricted ones),
joining, leaving, muting, marking read and unread counts; and the evaluator's answers on spaces
changing at once when a space or its members change.

The hub with members and spaces they build (Community, in tests/support/spaces.py) is shared with
the discussions tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import assert_error, doc, w
from tests.support.hubs import act
from tests.support.spaces import Community, Who, community

# ---- tags, segments and a member's spaces (the hub itself: tests/support/spaces.py) --------------


async def new_tag(client: Any, c: Community) -> str:
    r = await client.post(f"{c.team}/tags", json=doc("tags", {"name": f"T {uuid.uuid4().hex[:6]}"}),
                          headers=w(c.staff.headers))
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def tag(client: Any, c: Community, who: Who, tag_id: str) -> None:
    r = await client.post(f"{c.team}/contacts/{who.team_contact_id}/tags", json=doc("contact_tags", {"tag_id": tag_id}),
                          headers=w(c.staff.headers))
    assert r.status_code in (200, 201), r.text


async def tag_segment(client: Any, c: Community, tag_id: str) -> str:
    conditions = {"version": 1, "logic": "all",
                  "groups": [{"logic": "all", "conditions": [{"type": "tag", "operator": "has", "value": tag_id}]}]}
    r = await client.post(f"{c.team}/segments", json=doc("segments", {"name": f"S {uuid.uuid4().hex[:6]}",
                                                                       "conditions": conditions}),
                          headers=w(c.staff.headers))
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def member_spaces(client: Any, c: Community, who: Who) -> dict[str, dict[str, Any]]:
    r = await client.get(f"{c.h}/spaces", params={"page[size]": 100}, headers=who.headers)
    assert r.status_code == 200, r.text
    return {s["id"]: s["attributes"] for s in r.json()["data"]}


# ---- team side -------------------------------------------------------------------------------------


async def test_team_creates_reads_lists_updates_and_deletes_spaces(client):
    c = await community(client)
    a = await c.space(client, name="General Chat", position=2)
    assert a["attributes"]["slug"] == "general-chat"
    assert {k: a["attributes"][k] for k in ("access_level", "posting_permission", "segment_id", "is_pinned",
                                            "is_default", "position")} == {
        "access_level": "open", "posting_permission": "members", "segment_id": None, "is_pinned": False,
        "is_default": False, "position": 2}
    assert "locked" not in a["attributes"]  # member-side fields stay off the team side
    b = await c.space(client, name="Intro", slug="intro", access_level="private", posting_permission="moderators",
                      is_default=True, position=1)
    assert_error(await client.post(c.spaces_url, json=doc("spaces", {"name": "x", "slug": "intro"}),
                                   headers=w(c.staff.headers)), 409, "slug_taken", "/data/attributes/slug")
    assert_error(await client.post(c.spaces_url, json=doc("spaces", {"name": "x", "access_level": "hidden"}),
                                   headers=w(c.staff.headers)), 422, "invalid_value")

    r = await client.get(c.spaces_url, params={"page[size]": 1}, headers=c.staff.headers)
    assert [s["id"] for s in r.json()["data"]] == [b["id"]] and r.json()["meta"]["has_more"]
    r2 = await client.get(r.json()["links"]["next"], headers=c.staff.headers)
    assert [s["id"] for s in r2.json()["data"]] == [a["id"]] and not r2.json()["meta"]["has_more"]

    r = await client.patch(f"{c.spaces_url}/{a['id']}", json=doc("spaces", {"is_pinned": True, "description": "hi"}),
                           headers=w(c.staff.headers))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["is_pinned"] is True
    assert (await client.get(f"{c.spaces_url}/{a['id']}", headers=c.staff.headers)).json()["data"]["attributes"][
        "description"] == "hi"
    assert (await client.delete(f"{c.spaces_url}/{a['id']}", headers=c.staff.headers)).status_code == 204
    assert_error(await client.get(f"{c.spaces_url}/{a['id']}", headers=c.staff.headers), 404, "not_found")
    await c.space(client, name="General Chat")  # the deleted space's slug is free again

    other = await community(client)  # another team's space is 404, never 403
    assert_error(await client.get(f"{c.spaces_url}/{b['id']}", headers=other.staff.headers), 404, "not_found")
    assert_error(await client.get(f"{other.hub.url}/spaces/{b['id']}", headers=other.staff.headers), 404, "not_found")


async def test_a_space_segment_must_be_of_the_team(client):
    c = await community(client)
    other = await community(client)
    foreign = await tag_segment(client, other, await new_tag(client, other))
    assert_error(await client.post(c.spaces_url, json=doc("spaces", {"name": "x", "segment_id": foreign}),
                                   headers=w(c.staff.headers)), 422, "unknown_segment", "/data/attributes/segment_id")
    mine = await tag_segment(client, c, await new_tag(client, c))
    s = await c.space(client, segment_id=mine)
    assert s["attributes"]["segment_id"] == mine


async def test_space_members_are_added_and_removed_by_the_team(client):
    c = await community(client)
    ann = await c.member(client, "ann")
    s = await c.space(client, access_level="private")
    assert (await c.add_to_space(client, s["id"], ann)).status_code == 201
    assert (await c.add_to_space(client, s["id"], ann)).status_code == 200  # idempotent
    r = await client.get(f"{c.spaces_url}/{s['id']}/members", headers=c.staff.headers)
    assert [m["attributes"]["contact_id"] for m in r.json()["data"]] == [ann.contact_id]
    r = await client.post(f"{c.spaces_url}/{s['id']}/members",
                          json=doc("space_members", {"contact_id": str(uuid.uuid4())}), headers=w(c.staff.headers))
    assert_error(r, 422, "not_a_hub_member")
    assert (await client.delete(f"{c.spaces_url}/{s['id']}/members/{ann.contact_id}",
                                headers=c.staff.headers)).status_code == 204
    assert_error(await client.delete(f"{c.spaces_url}/{s['id']}/members/{ann.contact_id}",
                                     headers=c.staff.headers), 404, "not_found")


# ---- what members see ---------------------------------------------------------------------------------


async def test_members_see_open_and_private_spaces_but_not_secret_ones(client):
    c = await community(client)
    ann = await c.member(client, "ann")
    open_s = await c.space(client, position=1)
    private = await c.space(client, access_level="private", position=2)
    secret = await c.space(client, access_level="secret", position=3)

    seen = await member_spaces(client, c, ann)
    assert list(seen) == [open_s["id"], private["id"]]  # the secret space is absent, not locked
    assert (seen[open_s["id"]]["locked"], seen[open_s["id"]]["lock_reason"]) == (False, None)
    assert (seen[private["id"]]["locked"], seen[private["id"]]["lock_reason"]) == (True, "not_a_space_member")
    assert_error(await client.get(f"{c.h}/spaces/{secret['id']}", headers=ann.headers), 404, "not_found")
    assert_error(await client.post(f"{c.h}/spaces/{secret['id']}/join", headers=ann.headers), 404, "not_found")
    assert_error(await client.post(f"{c.h}/spaces/{private['id']}/join", headers=ann.headers), 403,
                 "not_a_space_member")
    r = await client.get(f"{c.h}/spaces/{private['id']}", headers=ann.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["locked"] is True

    # added by the team: both appear unlocked at once (the facts cache forgot what it knew)
    assert (await c.add_to_space(client, secret["id"], ann)).status_code == 201
    assert (await c.add_to_space(client, private["id"], ann)).status_code == 201
    seen = await member_spaces(client, c, ann)
    assert list(seen) == [open_s["id"], private["id"], secret["id"]]
    assert not any(s["locked"] for s in seen.values())
    assert all(s["joined"] for k, s in seen.items() if k != open_s["id"])

    # another hub's space is 404
    other = await community(client)
    foreign = await other.space(client)
    assert_error(await client.get(f"{c.h}/spaces/{foreign['id']}", headers=ann.headers), 404, "not_found")
    # a space made secret disappears from the list at once
    r = await client.patch(f"{c.spaces_url}/{open_s['id']}", json=doc("spaces", {"access_level": "secret"}),
                           headers=w(c.staff.headers))
    assert r.status_code == 200
    assert open_s["id"] not in await member_spaces(client, c, ann)


async def test_a_rule_or_an_entitlement_on_a_private_space_grants_entry(client):
    c = await community(client)
    ann, bob, cat = await c.member(client, "ann"), await c.member(client, "bob"), await c.member(client, "cat")
    private = await c.space(client, access_level="private")
    vip = await new_tag(client, c)
    r = await client.post(f"{c.hub.url}/access-rules", headers=w(c.staff.headers), json=doc("access_rules", {
        "target_type": "space", "target_id": private["id"],
        "conditions": [{"condition_type": "has_tag", "condition_data": {"tag_id": vip}}]}))
    assert r.status_code == 201, r.text
    await tag(client, c, ann, vip)
    r = await client.post(f"{c.hub.url}/entitlements", headers=w(c.staff.headers), json=doc("entitlements", {
        "contact_id": cat.contact_id, "kind": "community_access", "target_id": private["id"]}))
    assert r.status_code == 201, r.text

    for who in (ann, cat):
        r = await client.post(f"{c.h}/spaces/{private['id']}/join", headers=who.headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["joined"] is True and r.json()["data"]["attributes"]["locked"] is False
    # bob holds neither: the failing rule names what is missing
    assert_error(await client.post(f"{c.h}/spaces/{private['id']}/join", headers=bob.headers), 403, "missing_tag")


async def test_a_segment_restricted_space_needs_the_segment(client):
    c = await community(client)
    ann = await c.member(client, "ann")
    vip = await new_tag(client, c)
    segment = await tag_segment(client, c, vip)
    s = await c.space(client, segment_id=segment)
    seen = await member_spaces(client, c, ann)
    assert (seen[s["id"]]["locked"], seen[s["id"]]["lock_reason"]) == (True, "not_in_segment")
    assert_error(await c.post(client, ann, s["id"]), 403, "not_in_segment")
    await tag(client, c, ann, vip)  # now in the segment: the change reaches the evaluator at once
    assert (await c.post(client, ann, s["id"])).status_code == 201
    # and lifting the restriction opens it to everyone
    bob = await c.member(client, "bob")
    assert_error(await c.post(client, bob, s["id"]), 403, "not_in_segment")
    r = await client.patch(f"{c.spaces_url}/{s['id']}", json=doc("spaces", {"segment_id": None}),
                           headers=w(c.staff.headers))
    assert r.status_code == 200
    assert (await c.post(client, bob, s["id"])).status_code == 201


async def test_join_leave_mute_and_unread_counts(client):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client)
    sid = s["id"]
    assert_error(await client.post(f"{c.h}/spaces/{sid}/mute", headers=ann.headers), 409, "not_joined")
    assert_error(await client.post(f"{c.h}/spaces/{sid}/read", headers=ann.headers), 409, "not_joined")
    assert (await member_spaces(client, c, ann))[sid]["unread_count"] is None  # not joined: no count

    r = await client.post(f"{c.h}/spaces/{sid}/join", headers=ann.headers)
    assert r.json()["data"]["attributes"]["joined"] is True
    assert (await client.post(f"{c.h}/spaces/{sid}/join", headers=ann.headers)).status_code == 200  # idempotent
    for _ in range(3):
        await c.discussion(client, bob, sid)
    await c.discussion(client, ann, sid)  # my own posts are never unread
    draft = await c.discussion(client, bob, sid, status="draft")  # drafts are not published
    assert (await member_spaces(client, c, ann))[sid]["unread_count"] == 3

    r = await client.post(f"{c.h}/spaces/{sid}/read", headers=ann.headers)
    assert r.json()["data"]["attributes"]["unread_count"] == 0
    assert r.json()["data"]["attributes"]["last_read_at"] is not None
    await c.discussion(client, bob, sid)
    r = await client.patch(f"{c.h}/discussions/{draft['id']}", json=doc("discussions", {"status": "published"}),
                           headers=w(bob.headers))
    assert r.status_code == 200, r.text
    r = await client.get(f"{c.h}/spaces/{sid}", headers=ann.headers)
    assert r.json()["data"]["attributes"]["unread_count"] == 2

    r = await client.post(f"{c.h}/spaces/{sid}/mute", headers=ann.headers)
    assert r.json()["data"]["attributes"]["muted"] is True
    r = await client.delete(f"{c.h}/spaces/{sid}/mute", headers=ann.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["muted"] is False
    r = await client.post(f"{c.h}/spaces/{sid}/leave", headers=ann.headers)
    assert r.json()["data"]["attributes"]["joined"] is False
    assert (await client.post(f"{c.h}/spaces/{sid}/leave", headers=ann.headers)).status_code == 200


async def test_leaving_a_private_space_gives_up_access(client):
    c = await community(client)
    ann = await c.member(client, "ann")
    s = await c.space(client, access_level="private")
    await c.add_to_space(client, s["id"], ann)
    assert (await c.post(client, ann, s["id"])).status_code == 201
    assert (await client.post(f"{c.h}/spaces/{s['id']}/leave", headers=ann.headers)).status_code == 200
    assert_error(await c.post(client, ann, s["id"]), 403, "not_a_space_member")


async def test_posting_permission_moderators(client):
    c = await community(client)
    ann = await c.member(client, "ann")
    mod = await c.member(client, "mod", role="moderator")
    s = await c.space(client, posting_permission="moderators")
    assert_error(await c.post(client, ann, s["id"]), 403, "posting_restricted")
    d = await c.discussion(client, mod, s["id"])
    # members still read, comment and react there: the permission is about starting discussions
    assert (await client.get(f"{c.h}/discussions/{d['id']}", headers=ann.headers)).status_code == 200
    r = await client.post(f"{c.h}/discussions/{d['id']}/comments", json=doc("comments", {"body": "thanks"}),
                          headers=w(ann.headers))
    assert r.status_code == 201, r.text


async def test_banned_and_soft_banned_members(client):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client)
    d = await c.discussion(client, bob, s["id"])
    assert (await act(client, c.staff.headers, c.hub, ann.contact_id, "soft-ban")).status_code == 200
    assert (await client.get(f"{c.h}/spaces", headers=ann.headers)).status_code == 200  # reading is fine
    assert_error(await c.post(client, ann, s["id"]), 403, "soft_banned")
    assert_error(await client.post(f"{c.h}/discussions/{d['id']}/comments", json=doc("comments", {"body": "x"}),
                                   headers=w(ann.headers)), 403, "soft_banned")
    assert_error(await client.put(f"{c.h}/discussions/{d['id']}/reactions/👍", headers=ann.headers), 403,
                 "soft_banned")
    assert (await act(client, c.staff.headers, c.hub, ann.contact_id, "ban")).status_code == 200
    assert_error(await client.get(f"{c.h}/spaces", headers=ann.headers), 403, "banned")
