"""Erasure reaches live sockets: against real `hubwire serve` processes (two on Redis), the erased
member's sockets on every instance are closed (4403 ``erased``), other members see them leave
presence, and they cannot connect again."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import unique_email
from tests.support.realtime import (
    JSONAPI,
    Client,
    Cluster,
    cluster,  # noqa: F401  (a fixture, defined in tests/support/realtime.py)
    make_world,
    wait_for,
)


async def test_erasing_a_member_closes_their_sockets_and_removes_their_presence(cluster: Cluster) -> None:  # noqa: F811
    world = make_world(cluster.a.base)
    watcher_id, watcher_token = world.add_member()
    email = unique_email("live-erase")
    with world.http() as http:
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/memberships", headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "hub_memberships", "attributes": {"email": email}}})
        assert r.status_code == 201, r.text
        contact_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/member-tokens",
                      headers={**world.staff, **JSONAPI},
                      json={"data": {"type": "member_tokens", "attributes": {"contact_id": contact_id}}})
        token = r.json()["data"]["attributes"]["access_token"]
        rows = http.get(f"/api/v1/teams/{world.team_id}/contacts", params={"filter[email]": email},
                        headers=world.staff).json()["data"]
        team_contact_id = rows[0]["id"]

    hub = f"/api/v1/hub/{world.hub_id}/ws"
    watcher = await Client.connect(cluster.a, hub, watcher_token)
    await watcher.subscribe(f"hub:{world.hub_id}")
    on_a = await Client.connect(cluster.a, hub, token)
    on_b = await Client.connect(cluster.b, hub, token)
    await on_a.subscribe(f"hub:{world.hub_id}")
    await on_b.subscribe(f"contact:{contact_id}")

    def online() -> list[str]:
        with httpx.Client(base_url=cluster.b.base, timeout=5) as http:
            r = http.get(f"/api/v1/hub/{world.hub_id}/presence", headers={"Authorization": f"Bearer {watcher_token}"})
            assert r.status_code == 200, r.text
            return list(r.json()["data"]["attributes"]["online"])

    await wait_for(lambda: contact_id in online())
    with world.http() as http:
        r = http.post(f"/api/v1/teams/{world.team_id}/contacts/{team_contact_id}/erase", headers=world.staff)
        assert r.status_code == 200, r.text
    codes = [await on_a.closed(5.0), await on_b.closed(5.0)]
    assert codes == [4403, 4403]
    for c in (on_a, on_b):
        assert c.frames[-1] == {"type": "closing", "code": 4403, "reason": "erased"}
    left: Any = await watcher.until(lambda f: f["type"] == "presence" and f.get("left") == contact_id)
    assert left["channel"] == f"hub:{world.hub_id}"
    await wait_for(lambda: contact_id not in online())
    assert watcher_id in online()
    again = await Client.connect(cluster.a, hub, token)
    assert await again.closed() == 4403
    await watcher.close()
