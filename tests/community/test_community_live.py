"""Issue 6's end-to-end story: two members and a moderator, on two server instances over Redis
(one instance on the embedded default), hold a live conversation. A discussion is posted,
commented, reacted to, reported, removed and its author banned; each socket sees exactly the
events it should, in order, and the banned member is cut off. Direct messages travel on
conversation channels that only participants may join."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import doc
from tests.support.realtime import Client, make_world

JSONAPI = {"Content-Type": "application/vnd.api+json"}


def events_on(client: Client, channel: str) -> list[tuple[str, int]]:
    return [(f["event"], f["seq"]) for f in client.frames if f.get("type") == "event" and f["channel"] == channel]


async def test_post_comment_react_report_remove_ban_live(cluster):  # noqa: F811
    world = make_world(f"http://127.0.0.1:{cluster.a.port}")
    ann_id, ann_token = world.add_member()  # the author
    bob_id, bob_token = world.add_member()
    h = f"/api/v1/hub/{world.hub_id}"
    t = f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}"
    with world.http() as http:
        staff = {**world.staff, **JSONAPI}
        r = http.post(f"{t}/memberships", headers=staff,
                      json=doc("hub_memberships", {"email": f"mod-{ann_id[:8]}@example.test", "role": "moderator"}))
        assert r.status_code == 201, r.text
        mod_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"{t}/member-tokens", headers=staff, json=doc("member_tokens", {"contact_id": mod_id}))
        mod_token = r.json()["data"]["attributes"]["access_token"]
        space = http.post(f"{t}/spaces", headers=staff, json=doc("spaces", {"name": "Lounge"})).json()["data"]

    def call(srv: Any, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10.0) as http:
            return http.request(method, path, headers={"Authorization": f"Bearer {token}", **JSONAPI}, json=body)

    sch = f"space:{space['id']}"
    ann = await Client.connect(cluster.a, f"{h}/ws", ann_token)
    bob = await Client.connect(cluster.b, f"{h}/ws", bob_token)
    mod = await Client.connect(cluster.b, f"{h}/ws", mod_token)
    dash = await Client.connect(cluster.a, f"/api/v1/teams/{world.team_id}/ws", world.staff_token)
    try:
        for c in (ann, bob, mod):
            assert (await c.subscribe(sch))["type"] == "subscribed"
        assert (await dash.subscribe(f"team:{world.team_id}"))["type"] == "subscribed"

        # 1. Ann posts (through A): everyone in the space sees it.
        r = call(cluster.a, "POST", f"{h}/spaces/{space['id']}/discussions", ann_token,
                 doc("discussions", {"title": "Hello", "body": "first post"}))
        assert r.status_code == 201, r.text
        d = r.json()["data"]
        dch = f"discussion:{d['id']}"
        for c in (ann, bob, mod):
            f = await c.event("discussion.created")
            assert (f["channel"], f["seq"], f["data"]["id"]) == (sch, 1, d["id"])
            assert (await c.subscribe(dch))["seq"] == 0

        # 2. Bob comments (through B), 3. the moderator reacts (through A).
        r = call(cluster.b, "POST", f"{h}/discussions/{d['id']}/comments", bob_token, doc("comments", {"body": "hi!"}))
        assert r.status_code == 201, r.text
        assert call(cluster.a, "PUT", f"{h}/discussions/{d['id']}/reactions/👍", mod_token).status_code == 200
        for c in (ann, bob, mod):
            await c.event("reaction.added")
            assert events_on(c, dch) == [("comment.created", 1), ("reaction.added", 2)]

        # 4. Bob reports the discussion: the team dashboard hears of it, members do not.
        r = call(cluster.b, "POST", f"{h}/reports", bob_token,
                 doc("reports", {"target_type": "discussion", "target_id": d["id"], "reason": "spam"}))
        assert r.status_code == 201, r.text
        report = r.json()["data"]
        reported = await dash.event("member.reported")
        assert reported["data"]["target_id"] == d["id"]

        # 5. Staff resolve it by removing the discussion: it disappears live for everyone.
        with world.http() as http:
            r = http.post(f"{t}/moderation/reports/{report['id']}/resolve", headers={**world.staff, **JSONAPI},
                          json=doc("report_resolutions", {"action": "remove", "reason": "spam"}))
            assert r.status_code == 200, r.text
        for c in (ann, bob, mod):
            f = await c.until(lambda f: f.get("event") == "discussion.removed" and f["channel"] == dch)
            assert f["data"]["id"] == d["id"] and f["seq"] == 3
            assert [e for e, _ in events_on(c, sch)] == ["discussion.created", "discussion.activity", "discussion.removed"]
        assert (await dash.event("moderation.action"))["data"]["action"] == "remove"

        # 6. Ann is banned: her socket is closed with 4403; the others stay connected.
        world.moderate(ann_id, "ban")
        assert await ann.closed(timeout=5.0) == 4403
        assert (await dash.event("member.banned"))["data"]["contact_id"] == ann_id
        for c in (bob, mod):
            await c.send(op="ping")
            assert (await c.until(lambda f: f["type"] == "pong"))["type"] == "pong"
            assert not [f for f in c.frames if f.get("event", "").startswith("member.")]
        assert call(cluster.b, "GET", f"{h}/me", ann_token).json()["errors"][0]["code"] == "banned"
    finally:
        for c in (ann, bob, mod, dash):
            await c.close()


async def test_direct_messages_reach_participants_only(cluster):  # noqa: F811
    world = make_world(f"http://127.0.0.1:{cluster.a.port}")
    ann_id, ann_token = world.add_member()
    bob_id, bob_token = world.add_member()
    _, eve_token = world.add_member()
    h = f"/api/v1/hub/{world.hub_id}"
    with httpx.Client(base_url=f"http://127.0.0.1:{cluster.a.port}", timeout=10.0) as http:
        r = http.post(f"{h}/conversations", headers={"Authorization": f"Bearer {ann_token}", **JSONAPI},
                      json=doc("conversations", {"participant_ids": [bob_id]}))
        assert r.status_code == 201, r.text
        conv = r.json()["data"]["id"]
    ch = f"conversation:{conv}"
    bob = await Client.connect(cluster.b, f"{h}/ws", bob_token)
    eve = await Client.connect(cluster.b, f"{h}/ws", eve_token)
    try:
        assert (await bob.subscribe(ch))["type"] == "subscribed"
        refused = await eve.subscribe(ch)
        assert (refused["type"], refused["code"]) == ("error", "not_found")
        with httpx.Client(base_url=f"http://127.0.0.1:{cluster.a.port}", timeout=10.0) as http:
            r = http.post(f"{h}/conversations/{conv}/messages", headers={"Authorization": f"Bearer {ann_token}", **JSONAPI},
                          json=doc("messages", {"body": "psst"}))
            assert r.status_code == 201, r.text
        f = await bob.event("message.created")
        assert (f["channel"], f["seq"], f["data"]["body"]) == (ch, 1, "psst")
        assert f["data"]["author_contact_id"] == ann_id

        # Typing: a participant's signal reaches the others; a channel one is not in is refused.
        ann = await Client.connect(cluster.a, f"{h}/ws", ann_token)
        try:
            assert (await ann.subscribe(ch))["type"] == "subscribed"
            await ann.send(op="typing", channel=ch)
            typing = await bob.until(lambda f: f["type"] == "typing")
            assert typing == {"type": "typing", "channel": ch, "contact_id": ann_id}
            await eve.send(op="typing", channel=ch)
            err = await eve.until(lambda f: f["type"] == "error")
            assert err["code"] == "typing_not_allowed"
        finally:
            await ann.close()
    finally:
        await bob.close()
        await eve.close()
