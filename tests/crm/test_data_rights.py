"""Data rights end to end: a member's whole trail in a team (CRM record, tags, profile, a discussion,
a comment, a direct message, a reaction, an email), exported as JSON, then erased: nothing personal
left in any table, their posts shown as "Deleted member", their access gone, the audit record kept,
and another team's record of the same person untouched."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from persistence.models import Contact, DataErasure, EmailOutbox
from persistence.models.base import Base
from tests.support.api import assert_error, bearer, create_key, doc, register, w
from tests.support.app import db_rows, in_app
from tests.support.community import add_member, new_hub, set_me
from tests.support.crm import T, list_all


async def team_contact_id(client: Any, staff: Any, email: str) -> str:
    rows = await list_all(client, staff.headers, staff.team_id, f"filter[email]={email}")
    assert len(rows) == 1, rows
    return str(rows[0]["id"])


def every_row_text(client: Any, app: Litestar) -> str:
    """Every row of every table, as text: what a search of the database would find."""

    async def dump() -> str:
        out = []
        async with app.state.services.uow() as uow:
            for table in Base.metadata.sorted_tables:
                for row in (await uow.session.execute(sa.select(table))).all():
                    out.append(repr(tuple(row)))
        return "\n".join(out)

    return str(in_app(client, dump))


async def trail(client: AsyncTestClient[Litestar], app: Litestar) -> dict[str, Any]:
    """A member with personal data everywhere a member leaves some."""
    mark = uuid.uuid4().hex[:10]
    staff = await register(client)
    hub = await new_hub(client, staff)
    email = f"erase-me-{mark}@example.com"
    ada = await add_member(client, staff, hub, email=email)
    bob = await add_member(client, staff, hub)
    tc = await team_contact_id(client, staff, email)
    r = await client.patch(f"{T(staff.team_id)}/contacts/{tc}", headers=w(staff.headers), json=doc(
        "team_contacts", {"first_name": f"Ada{mark}", "last_name": f"Lace{mark}", "phone": f"+44{mark[:8]}",
                          "notes": f"notes-{mark}"}, id=tc))
    assert r.status_code == 200, r.text
    tag = await client.post(f"{T(staff.team_id)}/tags", headers=w(staff.headers), json=doc("tags", {"name": f"vip-{mark}"}))
    assert tag.status_code == 201, tag.text
    r = await client.post(f"{T(staff.team_id)}/contacts/{tc}/tags", headers=w(staff.headers),
                          json=doc("contact_tags", {"tag_id": tag.json()["data"]["id"]}))
    assert r.status_code in (200, 201), r.text
    await set_me(client, ada, profile={"display_name": f"Zelda{mark}", "bio": f"bio-{mark}"})
    space = await client.post(f"/api/v1/teams/{staff.team_id}/hubs/{hub.id}/spaces", headers=w(staff.headers),
                              json=doc("spaces", {"name": "General"}))
    assert space.status_code == 201, space.text
    sid = space.json()["data"]["id"]
    d = await client.post(ada.url(f"/spaces/{sid}/discussions"), headers=ada.wh,
                          json=doc("discussions", {"title": "Hello all", "body": f"post-{mark}"}))
    assert d.status_code == 201, d.text
    did = d.json()["data"]["id"]
    c = await client.post(ada.url(f"/discussions/{did}/comments"), headers=ada.wh,
                          json=doc("comments", {"body": f"comment-{mark}"}))
    assert c.status_code == 201, c.text
    r = await client.put(bob.url(f"/discussions/{did}/reactions/👍"), headers=bob.headers)
    assert r.status_code == 200, r.text
    r = await client.put(ada.url(f"/discussions/{did}/reactions/🎉"), headers=ada.headers)
    assert r.status_code == 200, r.text
    conv = await client.post(ada.url("/conversations"), headers=ada.wh,
                             json=doc("conversations", {"participant_ids": [bob.contact_id]}))
    assert conv.status_code == 201, conv.text
    cid = conv.json()["data"]["id"]
    m = await client.post(ada.url(f"/conversations/{cid}/messages"), headers=ada.wh,
                          json=doc("messages", {"body": f"secret-dm-{mark}"}))
    assert m.status_code == 201, m.text
    # an email to them: a sign-in link (queued in the outbox)
    r = await client.post("/api/v1/contact-auth/register", json={"email": email, "hub_id": hub.id})
    assert r.status_code == 202, r.text
    return {"mark": mark, "staff": staff, "hub": hub, "ada": ada, "bob": bob, "tc": tc, "email": email,
            "discussion": did, "conversation": cid, "space": sid}


async def test_export_holds_everything_the_team_knows_about_the_contact(client: AsyncTestClient[Litestar],
                                                                       app: Litestar) -> None:
    t = await trail(client, app)
    staff, mark = t["staff"], t["mark"]
    r = await client.get(f"{T(staff.team_id)}/contacts/{t['tc']}/export", headers=staff.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    assert "attachment" in r.headers["content-disposition"] and r.headers["cache-control"] == "no-store"
    data = r.json()["data"]
    assert data["type"] == "contact_exports" and data["id"] == t["tc"]
    x = data["attributes"]
    assert x["contact"]["email"] == t["email"] and x["contact"]["id"] == t["ada"].contact_id
    assert x["team_contact"]["first_name"] == f"Ada{mark}" and x["team_contact"]["notes"] == f"notes-{mark}"
    assert x["tags"] == [f"vip-{mark}"]
    assert [m["profile"]["display_name"] for m in x["memberships"]] == [f"Zelda{mark}"]
    assert [d["body"] for d in x["discussions"]] == [f"post-{mark}"]
    assert [c["body"] for c in x["comments"]] == [f"comment-{mark}"]
    assert [m["body"] for m in x["messages"]] == [f"secret-dm-{mark}"]
    assert [c["id"] for c in x["conversations"]] == [t["conversation"]]
    assert [rx["emoji"] for rx in x["reactions"]] == ["🎉"]  # theirs, not Bob's
    assert [e["kind"] for e in x["emails"]] == ["magic_link"] and x["emails"][0]["to_email"] == t["email"]
    assert "text_body" not in x["emails"][0]  # sign-in links are secrets, even in an export
    assert x["orders"] == [] and x["payments"] == []
    assert "hw_ml_" not in r.text and "token_hash" not in r.text


async def test_erasure_leaves_nothing_personal_and_the_posts_as_deleted_member(client: AsyncTestClient[Litestar],
                                                                              app: Litestar) -> None:
    t = await trail(client, app)
    staff, mark, ada, bob = t["staff"], t["mark"], t["ada"], t["bob"]
    r = await client.post(f"{T(staff.team_id)}/contacts/{t['tc']}/erase", headers=staff.headers)
    assert r.status_code == 200, r.text
    receipt = r.json()["data"]
    assert receipt["type"] == "contact_erasures"
    a = receipt["attributes"]
    assert a["contact_id"] == ada.contact_id and a["team_contact_id"] == t["tc"]
    assert a["erased_by"].startswith("user:")
    s = a["summary"]
    assert s["memberships"] == 1 and s["messages"] == 1 and s["contact_tags"] == 1 and s["contact_anonymized"] == 1
    assert s["discussions_kept_as_deleted_member"] == 1 and s["comments_kept_as_deleted_member"] == 1
    assert s["emails_dropped"] + s["emails_anonymized"] == 1

    # nothing personal left in any table: email, names, phone, notes, profile, bio, the message
    everything = every_row_text(client, app)
    for secret in (t["email"], f"Ada{mark}", f"Lace{mark}", f"+44{mark[:8]}", f"notes-{mark}", f"Zelda{mark}",
                   f"bio-{mark}", f"secret-dm-{mark}"):
        assert secret not in everything, secret
    # what stays: the public posts (under "Deleted member"), and the audit record, by id only
    assert f"post-{mark}" in everything and f"comment-{mark}" in everything
    audit = db_rows(client, app, sa.select(DataErasure).where(DataErasure.team_contact_id == uuid.UUID(t["tc"])))
    assert len(audit) == 1 and str(audit[0].contact_id) == ada.contact_id
    contact = db_rows(client, app, sa.select(Contact).where(Contact.id == uuid.UUID(ada.contact_id)))[0]
    assert contact.email.endswith("@erased.invalid") and contact.first_name is None
    assert not db_rows(client, app, sa.select(EmailOutbox).where(EmailOutbox.to_email == t["email"]))

    # the CRM no longer shows them; a second erasure or an export finds nothing
    assert_error(await client.get(f"{T(staff.team_id)}/contacts/{t['tc']}", headers=staff.headers), 404, "not_found")
    assert await list_all(client, staff.headers, staff.team_id, f"filter[email]={t['email']}") == []
    assert await list_all(client, staff.headers, staff.team_id, f"filter[email]={t['email']}&filter[deleted]=true") == []
    assert_error(await client.post(f"{T(staff.team_id)}/contacts/{t['tc']}/erase", headers=staff.headers),
                 404, "not_found")
    assert_error(await client.get(f"{T(staff.team_id)}/contacts/{t['tc']}/export", headers=staff.headers),
                 404, "not_found")

    # the thread still reads, by a "Deleted member"; their message is blanked; their access is gone
    d = await client.get(bob.url(f"/discussions/{t['discussion']}"), headers=bob.headers)
    assert d.status_code == 200 and d.json()["data"]["attributes"]["author_contact_id"] == ada.contact_id
    p = await client.get(bob.url(f"/members/{ada.contact_id}"), headers=bob.headers)
    assert p.status_code == 200, p.text
    assert p.json()["data"]["attributes"]["display_name"] == "Deleted member"
    assert p.json()["data"]["attributes"]["bio"] is None
    directory = await client.get(bob.url("/members"), headers=bob.headers)
    assert ada.contact_id not in [m["id"] for m in directory.json()["data"]]
    msgs = await client.get(bob.url(f"/conversations/{t['conversation']}/messages"), headers=bob.headers)
    assert msgs.status_code == 200, msgs.text
    assert f"secret-dm-{mark}" not in msgs.text
    assert (await client.get(ada.url("/me"), headers=ada.headers)).status_code in (401, 403, 404)


async def test_another_teams_record_of_the_same_person_is_untouched(client: AsyncTestClient[Litestar],
                                                                    app: Litestar) -> None:
    t = await trail(client, app)
    other = await register(client, "other")
    r = await client.post(f"{T(other.team_id)}/contacts", headers=w(other.headers),
                          json=doc("team_contacts", {"email": t["email"], "first_name": "Kept"}))
    assert r.status_code == 201, r.text
    theirs = r.json()["data"]["id"]
    # the other team cannot reach this team's record (404), nor erase it
    assert_error(await client.post(f"{T(other.team_id)}/contacts/{t['tc']}/erase", headers=other.headers),
                 404, "not_found")
    assert_error(await client.get(f"{T(other.team_id)}/contacts/{t['tc']}/export", headers=other.headers),
                 404, "not_found")
    r = await client.post(f"{T(t['staff'].team_id)}/contacts/{t['tc']}/erase", headers=t["staff"].headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["summary"]["contact_anonymized"] == 0
    kept = await client.get(f"{T(other.team_id)}/contacts/{theirs}", headers=other.headers)
    assert kept.status_code == 200
    assert kept.json()["data"]["attributes"]["email"] == t["email"]
    assert kept.json()["data"]["attributes"]["first_name"] == "Kept"
    mine = await client.get(f"{T(other.team_id)}/contacts/{theirs}/export", headers=other.headers)
    assert mine.json()["data"]["attributes"]["memberships"] == []  # the first team's hub is not theirs


async def test_scopes_an_api_key_needs(client: AsyncTestClient[Litestar], app: Litestar) -> None:
    t = await trail(client, app)
    staff = t["staff"]
    reader = await create_key(client, staff, staff.team_id, ["contacts:read"])
    key = bearer(reader["secret"])
    assert (await client.get(f"{T(staff.team_id)}/contacts/{t['tc']}/export", headers=key)).status_code == 200
    assert_error(await client.post(f"{T(staff.team_id)}/contacts/{t['tc']}/erase", headers=key), 403,
                 "insufficient_scope")
    writer = await create_key(client, staff, staff.team_id, ["contacts:write"])
    r = await client.post(f"{T(staff.team_id)}/contacts/{t['tc']}/erase", headers=bearer(writer["secret"]))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["erased_by"].startswith("api_key:")
    assert_error(await client.post(f"{T(staff.team_id)}/contacts/not-an-id/erase", headers=staff.headers),
                 404, "not_found")
