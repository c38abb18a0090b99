"""The team dashboard's counters (``GET T/dashboard``): what they count, who may read them, and the
team channel's position they come with, so that a client subscribing from it sees every later
event that moves them."""

from __future__ import annotations

from tests.support.api import add_staff, assert_error, create_key, doc, register, unique_email, w
from tests.support.community import add_member, new_hub


async def counters(client, headers, team_id):
    r = await client.get(f"/api/v1/teams/{team_id}/dashboard", headers=headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "dashboard_counters" and data["id"] == team_id
    assert data["links"]["self"] == f"/api/v1/teams/{team_id}/dashboard"
    return data["attributes"]


async def test_counters_and_the_channel_position(client):
    staff = await register(client, "dash")
    team = staff.team_id
    first = await counters(client, staff.headers, team)
    assert {k: first[k] for k in ("hubs", "team_contacts", "hub_members", "open_reports")} == {
        "hubs": 0, "team_contacts": 0, "hub_members": 0, "open_reports": 0}
    assert first["channel"] == f"team:{team}" and isinstance(first["seq"], int) and first["epoch"]

    hub = await new_hub(client, staff)
    a = await add_member(client, staff, hub)  # a contact signs up and joins: two events
    await add_member(client, staff, hub)
    r = await client.post(f"/api/v1/teams/{team}/contacts", headers=w(staff.headers),
                          json=doc("team_contacts", {"email": unique_email("lead")}))
    assert r.status_code == 201
    r = await client.post(a.url("/reports"), headers=a.wh, json=doc("reports", {
        "target_type": "member", "target_id": (await add_member(client, staff, hub)).contact_id, "reason": "Spam"}))
    assert r.status_code == 201, r.text
    now = await counters(client, staff.headers, team)
    assert {k: now[k] for k in ("hubs", "team_contacts", "hub_members", "open_reports")} == {
        "hubs": 1, "team_contacts": 4, "hub_members": 3, "open_reports": 1}
    # 4 signups + 3 joins + 1 report since the first read, all on the team channel
    assert now["epoch"] == first["epoch"] and now["seq"] == first["seq"] + 8

    # a deleted hub no longer counts, nor its members or reports
    assert (await client.delete(f"{hub.url}", headers=staff.headers)).status_code == 204
    after = await counters(client, staff.headers, team)
    assert {k: after[k] for k in ("hubs", "hub_members", "open_reports")} == {"hubs": 0, "hub_members": 0, "open_reports": 0}


async def test_who_may_read_them(client):
    owner = await register(client, "dash")
    moderator = await add_staff(client, owner, owner.team_id, "moderator")
    await counters(client, moderator.headers, owner.team_id)  # moderators read dashboards
    key = await create_key(client, owner, owner.team_id, ["dashboard:read"])
    await counters(client, {"Authorization": f"Bearer {key['secret']}"}, owner.team_id)
    other = await create_key(client, owner, owner.team_id, ["contacts:read"])
    assert_error(await client.get(f"/api/v1/teams/{owner.team_id}/dashboard",
                                  headers={"Authorization": f"Bearer {other['secret']}"}), 403, "insufficient_scope")
    stranger = await register(client, "dash")
    assert_error(await client.get(f"/api/v1/teams/{owner.team_id}/dashboard", headers=stranger.headers), 404, "not_found")
