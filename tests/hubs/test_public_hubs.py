"""A hub's public face (``GET /api/v1/public/hubs``): what a sign-in page shows, by slug or id,
with no token; every live hub of that slug (slugs are unique per team only), never a deleted one,
and never a list of every hub."""

from __future__ import annotations

import uuid

from tests.support.api import assert_error, create_team, doc, register, w


async def make_hub(client, staff, team_id, slug, **attrs):
    r = await client.post(f"/api/v1/teams/{team_id}/hubs", headers=w(staff.headers),
                          json=doc("hubs", {"name": f"Hub {slug}", "slug": slug, **attrs}))
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


async def test_by_slug_without_a_token(client):
    staff = await register(client)
    slug = f"pub-{uuid.uuid4().hex[:8]}"
    hub_id = await make_hub(client, staff, staff.team_id, slug, branding={"colors": {"primary": "#0a84ff"}},
                            settings={"community": {"posts_per_minute": 3}}, meta={"secret": "x"})
    r = await client.get(f"/api/v1/public/hubs?filter[slug]={slug}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"has_more": False}
    assert body["data"] == [{"type": "public_hubs", "id": hub_id, "attributes": {
        "name": f"Hub {slug}", "slug": slug, "description": None, "is_private": False,
        "branding": {"colors": {"primary": "#0a84ff"}}}}]  # settings and meta stay private
    by_id = (await client.get(f"/api/v1/public/hubs?filter[id]={hub_id}")).json()["data"]
    assert [h["id"] for h in by_id] == [hub_id]


async def test_one_slug_in_two_teams_answers_both_and_deleted_hubs_none(client):
    staff = await register(client)
    other_team = await create_team(client, staff, "Second")
    slug = f"twice-{uuid.uuid4().hex[:8]}"
    first = await make_hub(client, staff, staff.team_id, slug)
    second = await make_hub(client, staff, other_team, slug)
    ids = [h["id"] for h in (await client.get(f"/api/v1/public/hubs?filter[slug]={slug}")).json()["data"]]
    assert ids == [first, second]
    assert (await client.delete(f"/api/v1/teams/{other_team}/hubs/{second}", headers=staff.headers)).status_code == 204
    ids = [h["id"] for h in (await client.get(f"/api/v1/public/hubs?filter[slug]={slug}")).json()["data"]]
    assert ids == [first]
    assert (await client.get(f"/api/v1/public/hubs?filter[id]={second}")).json()["data"] == []


async def test_a_filter_is_required_and_checked(client):
    assert_error(await client.get("/api/v1/public/hubs"), 422, "missing_filter")
    assert_error(await client.get("/api/v1/public/hubs?filter[id]=nope"), 422, "invalid_filter")
    assert_error(await client.get("/api/v1/public/hubs?filter[name]=x"), 422, "unknown_parameter")
    assert (await client.get("/api/v1/public/hubs?filter[slug]=no-such-hub-anywhere")).json()["data"] == []
