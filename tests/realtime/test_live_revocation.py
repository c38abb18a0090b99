"""Live revocation end to end (docs/realtime.md "Live revocation"): a member's socket subscribed to
a space loses it with ``error access_revoked`` the moment staff take the access away, whichever way:
removed from a private space, a new access rule the member does not meet, an entitlement revoked.
The socket is on instance A and the change goes through instance B (two processes on Redis; one
on the embedded default). The socket's other channels keep flowing, and subscribing again is refused."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.realtime import JSONAPI, Client, Cluster, World, make_world


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> World:
    return make_world(cluster.b.base)  # every REST change goes through B


def rest(w: World, method: str, path: str, type_: str | None = None, expect: int = 201, **attributes: Any) -> Any:
    body = {"data": {"type": type_, "attributes": attributes}} if type_ else None
    with httpx.Client(base_url=w.base, timeout=10.0) as http:
        r = http.request(method, f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}{path}", json=body,
                         headers={**w.staff, **(JSONAPI if body else {})})
        assert r.status_code == expect, r.text
        return r.json() if r.content else None


async def watching(cluster: Cluster, w: World, token: str, space_id: str) -> Client:
    c = await Client.connect(cluster.a, f"/api/v1/hub/{w.hub_id}/ws", token)
    assert (await c.subscribe(f"hub:{w.hub_id}"))["type"] == "subscribed"
    assert (await c.subscribe(f"space:{space_id}"))["type"] == "subscribed", c.frames
    return c


async def revoked(c: Client, w: World, space_id: str) -> None:
    """The space's channel is revoked; the hub's still delivers; the space cannot be re-joined."""
    started = time.monotonic()
    frame = await c.until(lambda f: f["type"] == "error" and f.get("channel") == f"space:{space_id}", 10.0)
    print(f"\naccess_revoked after {time.monotonic() - started:.3f} s: {frame['message']}")
    assert frame["code"] == "access_revoked"
    w.announce("still flowing")
    assert (await c.event("announcement.created"))["data"]["title"] == "still flowing"
    again = await c.subscribe(f"space:{space_id}")
    assert again["type"] == "error" and again["code"] != "access_revoked", again
    await c.close()


async def test_removed_from_a_private_space(cluster: Cluster, world: World) -> None:
    contact_id, token = world.add_member()
    space_id = rest(world, "POST", "/spaces", "spaces", name="Inner circle", access_level="private")["data"]["id"]
    rest(world, "POST", f"/spaces/{space_id}/members", "space_members", contact_id=contact_id)
    c = await watching(cluster, world, token, space_id)
    rest(world, "DELETE", f"/spaces/{space_id}/members/{contact_id}", expect=204)
    await revoked(c, world, space_id)


async def test_a_new_rule_the_member_does_not_meet(cluster: Cluster, world: World) -> None:
    _, token = world.add_member()
    space_id = rest(world, "POST", "/spaces", "spaces", name="Soon for VIPs")["data"]["id"]
    with httpx.Client(base_url=world.base, timeout=10.0) as http:
        r = http.post(f"/api/v1/teams/{world.team_id}/tags", headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "tags", "attributes": {"name": f"vip-{time.monotonic_ns()}"}}})
        assert r.status_code == 201, r.text
        tag = r.json()["data"]["id"]
    c = await watching(cluster, world, token, space_id)
    rest(world, "POST", "/access-rules", "access_rules", name="VIPs only", target_type="space", target_id=space_id,
         logic_operator="all", conditions=[{"condition_type": "has_tag", "condition_data": {"tag_id": tag}}])
    await revoked(c, world, space_id)


async def test_an_entitlement_revoked(cluster: Cluster, world: World) -> None:
    contact_id, token = world.add_member()
    space_id = rest(world, "POST", "/spaces", "spaces", name="Paying members")["data"]["id"]
    rest(world, "POST", "/access-rules", "access_rules", name="Paid", target_type="space", target_id=space_id,
         logic_operator="all", conditions=[{"condition_type": "has_entitlement",
                                            "condition_data": {"kind": "community_access"}}])
    ent = rest(world, "POST", "/entitlements", "entitlements", contact_id=contact_id, kind="community_access")
    c = await watching(cluster, world, token, space_id)
    rest(world, "POST", f"/entitlements/{ent['data']['id']}/revoke", "entitlement_revocations", expect=200,
         reason="refunded")
    await revoked(c, world, space_id)
