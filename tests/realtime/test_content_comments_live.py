"""Comments on content, live over a real socket (docs/realtime.md, ``content:{id}``): a member
subscribed to a lesson's channel on instance A gets the comments posted through instance B; a draft
or unknown node is ``not_found``; a locked lesson is refused with the evaluator's reason; and when
staff lock the lesson while the member watches (a rule they do not meet), the channel is revoked
with ``access_revoked`` while their other channels keep flowing."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.realtime import JSONAPI, Client, Cluster, World, make_world


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> World:
    return make_world(cluster.b.base)  # every REST call goes through B


def call(w: World, method: str, path: str, headers: dict[str, str], type_: str | None = None, expect: int = 201,
         **attributes: Any) -> Any:
    body = {"data": {"type": type_, "attributes": attributes}} if type_ else None
    with httpx.Client(base_url=w.base, timeout=10.0) as http:
        r = http.request(method, path, json=body, headers={**headers, **(JSONAPI if body else {})})
        assert r.status_code == expect, r.text
        return r.json() if r.content else None


def node(w: World, title: str, status: str = "published") -> str:
    return str(call(w, "POST", f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/content", w.staff, "content_nodes",
                    title=title, status=status, body="<p>lesson</p>")["data"]["id"])


async def test_comments_arrive_live_and_a_lock_revokes_the_channel(cluster: Cluster, world: World) -> None:
    lesson, draft = node(world, "Lesson 1"), node(world, "Draft", status="draft")
    _, token = world.add_member()
    _, peer_token = world.add_member()
    c = await Client.connect(cluster.a, f"/api/v1/hub/{world.hub_id}/ws", token)
    assert (await c.subscribe(f"hub:{world.hub_id}"))["type"] == "subscribed"
    assert (await c.subscribe(f"content:{lesson}"))["type"] == "subscribed", c.frames
    for hidden in (draft, str(uuid.uuid4())):
        refused = await c.subscribe(f"content:{hidden}")
        assert (refused["type"], refused["code"]) == ("error", "not_found"), refused

    started = time.monotonic()
    posted = call(world, "POST", f"/api/v1/hub/{world.hub_id}/content/{lesson}/comments",
                  {"Authorization": f"Bearer {peer_token}"}, "comments", body="Great lesson")["data"]
    frame = await c.event("comment.created", 10.0)
    print(f"\ncomment delivered across instances in {time.monotonic() - started:.3f} s")
    assert frame["channel"] == f"content:{lesson}"
    assert (frame["data"]["id"], frame["data"]["content_node_id"], frame["data"]["body"]) == (
        posted["id"], lesson, "Great lesson")

    # staff lock the lesson behind a tag the member does not have: the channel goes, live
    with httpx.Client(base_url=world.base, timeout=10.0) as http:
        r = http.post(f"/api/v1/teams/{world.team_id}/tags", headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "tags", "attributes": {"name": f"vip-{time.monotonic_ns()}"}}})
        assert r.status_code == 201, r.text
        tag = r.json()["data"]["id"]
    started = time.monotonic()
    call(world, "POST", f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/access-rules", world.staff,
         "access_rules", name="VIP lesson", target_type="content_node", target_id=lesson, logic_operator="all",
         conditions=[{"condition_type": "has_tag", "condition_data": {"tag_id": tag}}])
    frame = await c.until(lambda f: f["type"] == "error" and f.get("channel") == f"content:{lesson}", 10.0)
    print(f"access_revoked after {time.monotonic() - started:.3f} s: {frame['message']}")
    assert frame["code"] == "access_revoked"
    world.announce("still flowing")
    assert (await c.event("announcement.created"))["data"]["title"] == "still flowing"

    # subscribing again is refused with the evaluator's reason (the lesson's lock reason)
    tree = call(world, "GET", f"/api/v1/hub/{world.hub_id}/content", {"Authorization": f"Bearer {token}"},
                expect=200)
    reason = next(n["attributes"]["lock_reason"] for n in tree["data"] if n["id"] == lesson)
    again = await c.subscribe(f"content:{lesson}")
    assert (again["type"], again["code"]) == ("error", reason), again
    await c.close()
