"""The member directory and profiles: a hand-computed visibility matrix (everyone, shared spaces,
hidden; banned, lapsed-banned, soft-banned and departed members; a deleted space shares nothing),
the same answers from the list and the single-profile route, search over display / first / last
name, cursor pages, and other hubs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from persistence.models import Contact, HubMembership
from tests.support.community import (
    Member,
    act,
    add_member,
    assert_error,
    db_write,
    make_space,
    new_hub,
    set_me,
    world,
)


def listed(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["data"]]


async def directory(client: Any, m: Member, query: str = "") -> list[str]:
    return listed(await client.get(m.url("/members" + query), headers=m.headers))


async def test_visibility_matrix(client, app, clock):
    wd = await world(client, 0)
    names = ["V1", "V2", "E", "S", "S2", "S3", "H", "B", "SB", "LB", "LF"]
    m: dict[str, Member] = {}
    for name in names:
        m[name] = await add_member(client, wd.staff, wd.hub)
    visibility = {"V1": "everyone", "V2": "hidden", "E": "everyone", "S": "shared_spaces", "S2": "shared_spaces",
                  "S3": "shared_spaces", "H": "hidden", "B": "everyone", "SB": "everyone", "LB": "everyone",
                  "LF": "everyone"}
    for name, vis in visibility.items():
        await set_me(client, m[name], profile={"visibility": vis})
    # spaces: X shared by V1 and S; Y by V2 and S2; Z (deleted) by V1 and S3; W holds only H
    make_space(client, app, clock, wd.hub.id, members=[m["V1"].contact_id, m["S"].contact_id])
    make_space(client, app, clock, wd.hub.id, access_level="private", members=[m["V2"].contact_id, m["S2"].contact_id])
    make_space(client, app, clock, wd.hub.id, deleted=True, members=[m["V1"].contact_id, m["S3"].contact_id])
    make_space(client, app, clock, wd.hub.id, members=[m["H"].contact_id])
    assert (await act(client, wd.staff.headers, wd.hub, m["B"].contact_id, "ban")).status_code == 200
    assert (await act(client, wd.staff.headers, wd.hub, m["SB"].contact_id, "soft-ban")).status_code == 200
    lapsed = clock.now() - timedelta(minutes=1)
    db_write(client, app,
             sa.update(HubMembership).where(HubMembership.contact_id == uuid.UUID(m["LB"].contact_id))
             .values(status="banned", status_expires_at=lapsed),
             sa.update(HubMembership).where(HubMembership.contact_id == uuid.UUID(m["LF"].contact_id))
             .values(status="left"))

    # who sees whom, by hand: "everyone" to all; S only with V1 (space X); S2 only with V2 (space
    # Y); S3 shares only a deleted space; hidden V2 and H see themselves; B (banned) and LF (left)
    # nobody; LB's ban has lapsed, SB is only soft-banned: both listed
    expected = {
        "V1": ["V1", "E", "S", "SB", "LB"],
        "V2": ["V1", "V2", "E", "S2", "SB", "LB"],
        "E": ["V1", "E", "SB", "LB"],
        "S": ["V1", "E", "S", "SB", "LB"],
        "S2": ["V1", "E", "S2", "SB", "LB"],  # shares space Y with V2, but V2 is hidden: hidden wins
        "S3": ["V1", "E", "S3", "SB", "LB"],
        "H": ["V1", "E", "H", "SB", "LB"],
        "SB": ["V1", "E", "SB", "LB"],
        "LB": ["V1", "E", "SB", "LB"],
    }
    ids = {name: mm.contact_id for name, mm in m.items()}
    for viewer, visible in expected.items():
        got = await directory(client, m[viewer])
        assert got == [ids[n] for n in visible], (viewer, [next(k for k, v in ids.items() if v == g) for g in got])
        for name in names:
            r = await client.get(m[viewer].url(f"/members/{ids[name]}"), headers=m[viewer].headers)
            if name in visible:
                assert r.status_code == 200, (viewer, name, r.text)
                assert r.json()["data"]["id"] == ids[name]
            else:
                assert_error(r, 404, "not_found")
    # the banned and the departed cannot look at all
    assert_error(await client.get(m["B"].url("/members"), headers=m["B"].headers), 403, "banned")
    assert_error(await client.get(m["LF"].url("/members"), headers=m["LF"].headers), 403, "not_a_member")


async def test_profile_fields_search_and_pages(client, app):
    wd = await world(client, 0)
    viewer = await add_member(client, wd.staff, wd.hub)
    ada = await add_member(client, wd.staff, wd.hub)
    grace = await add_member(client, wd.staff, wd.hub)
    dancer = await add_member(client, wd.staff, wd.hub)
    hidden = await add_member(client, wd.staff, wd.hub)
    pct = await add_member(client, wd.staff, wd.hub)
    media = str(uuid.uuid4())
    await set_me(client, ada, profile={"display_name": "Ada Lovelace", "bio": "Engines.", "avatar_media_id": media,
                                       "links": [{"label": "site", "url": "https://ada.example"}]})
    db_write(client, app, sa.update(Contact).where(Contact.id == uuid.UUID(grace.contact_id))
             .values(first_name="Grace", last_name="Hopper"))
    await set_me(client, dancer, profile={"display_name": "GRACEful Dancer"})
    await set_me(client, hidden, profile={"display_name": "Grace Hidden", "visibility": "hidden"})
    await set_me(client, pct, profile={"display_name": "100% Real_Name"})

    r = await client.get(viewer.url(f"/members/{ada.contact_id}"), headers=viewer.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "member_profiles"
    a = data["attributes"]
    assert (a["contact_id"], a["display_name"], a["bio"], a["avatar_media_id"], a["links"], a["role"]) == (
        ada.contact_id, "Ada Lovelace", "Engines.", media, [{"label": "site", "url": "https://ada.example"}], "member")
    assert "email" not in a and "visibility" not in a
    g = (await client.get(viewer.url(f"/members/{grace.contact_id}"), headers=viewer.headers)).json()["data"]
    assert g["attributes"]["display_name"] == "Grace Hopper"  # no display name: the contact's name

    q = "?filter[q]="
    assert await directory(client, viewer, q + "grace") == [grace.contact_id, dancer.contact_id]
    assert await directory(client, viewer, q + "GRACE%20hop") == [grace.contact_id]  # "first last"
    assert await directory(client, viewer, q + "hopper") == [grace.contact_id]
    assert await directory(client, viewer, q + "aDa%20LOVE") == [ada.contact_id]
    assert await directory(client, viewer, q + "hidden") == []  # hidden stays hidden when searched
    assert await directory(client, hidden, q + "hidden") == [hidden.contact_id]
    assert await directory(client, viewer, q + "%25") == [pct.contact_id]  # wildcards are literal
    assert await directory(client, viewer, q + "_") == [pct.contact_id]
    assert await directory(client, viewer, q + "l_v") == []
    assert_error(await client.get(viewer.url("/members" + q + "x" * 101), headers=viewer.headers), 422, "invalid_filter")
    assert_error(await client.get(viewer.url("/members?filter[email]=x"), headers=viewer.headers), 422,
                 "unknown_filter")

    everyone = await directory(client, viewer)
    assert everyone == [viewer.contact_id, ada.contact_id, grace.contact_id, dancer.contact_id, pct.contact_id]
    seen: list[str] = []
    url = viewer.url("/members?page[size]=2")
    while url:
        r = await client.get(url, headers=viewer.headers)
        seen += listed(r)
        assert len(r.json()["data"]) <= 2
        url = r.json()["links"].get("next")
    assert seen == everyone


async def test_other_hubs_are_404(client):
    wd = await world(client, 1)
    (a,) = wd.members
    hub2 = await new_hub(client, wd.staff)
    c = await add_member(client, wd.staff, hub2)
    assert_error(await client.get(a.url(f"/members/{c.contact_id}"), headers=a.headers), 404, "not_found")
    assert c.contact_id not in await directory(client, a)
    assert_error(await client.get(f"/api/v1/hub/{hub2.id}/members", headers=a.headers), 404, "not_found")
    assert_error(await client.get(a.url("/members/not-an-id"), headers=a.headers), 404, "not_found")
    assert await directory(client, c) == [c.contact_id]
