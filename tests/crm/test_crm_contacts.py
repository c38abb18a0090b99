"""Team contacts through the API: upsert by email, import and paging, filters with hand-computed
expectations, soft delete and restore, cross-team 404s, scopes, and the signup event."""

from __future__ import annotations

import asyncio
import queue
import uuid
from typing import Any

import msgspec
import pytest

from tests.support.api import assert_error, bearer, create_key, doc, register
from tests.support.backends import REDIS_URL
from tests.support.crm import T, add_contact, hdrs, list_all

pytestmark = pytest.mark.asyncio


async def emails_for(client, headers, team_id: str, query: str) -> list[str]:
    return [c["attributes"]["email"] for c in await list_all(client, headers, team_id, query)]


# ---- import and paging ------------------------------------------------------------------------------


async def test_an_api_key_imports_1000_contacts_and_pages_through_them_in_creation_order(client):
    staff = await register(client, "importer")
    key = await create_key(client, staff, staff.team_id, ["contacts:write", "tags:write"])
    headers = bearer(key["secret"])
    run = uuid.uuid4().hex[:8]
    batches: list[set[str]] = []
    emails: list[str] = []
    for b in range(20):
        batch = [f"Import-{b:02d}-{i:02d}-{run}@Example.test" for i in range(50)]
        created = await asyncio.gather(*(add_contact(client, headers, staff.team_id, e) for e in batch))
        batches.append({c["id"] for c in created})
        emails.extend(e.lower() for e in batch)
        assert [c["attributes"]["email"] for c in created] == [e.lower() for e in batch]

    pages: list[list[dict]] = []
    url = f"{T(staff.team_id)}/contacts?page[size]=100"
    while url:
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["data"])
        url = body["links"].get("next")
        assert body["meta"]["has_more"] == (url is not None)
    assert [len(p) for p in pages] == [100] * 10
    ids = [c["id"] for p in pages for c in p]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert set(ids) == set().union(*batches)
    # creation order: every contact of batch k comes before every contact of batch k+1 ...
    position = {i: n for n, i in enumerate(ids)}
    for earlier, later in zip(batches, batches[1:]):
        assert max(position[i] for i in earlier) < min(position[i] for i in later)
    # ... and the listing is ordered by (time-ordered) id, with created_at never going back
    assert ids == sorted(ids, key=uuid.UUID)
    created = [c["attributes"]["created_at"] for p in pages for c in p]
    assert created == sorted(created)
    assert sorted(c["attributes"]["email"] for p in pages for c in p) == sorted(emails)


# ---- upsert ------------------------------------------------------------------------------------------


async def test_upsert_by_email_ignores_case_and_updates_only_the_given_fields(client):
    staff = await register(client, "upsert")
    run = uuid.uuid4().hex[:8]
    r = await client.post(f"{T(staff.team_id)}/contacts", headers=hdrs(staff.headers), json=doc("team_contacts", {
        "email": f"Ada.Lovelace-{run}@Example.TEST", "first_name": "Ada", "phone": "+44 20 0000",
        "lifecycle_stage": "customer", "source": "import"}))
    assert r.status_code == 201, r.text
    first = r.json()["data"]
    assert first["type"] == "team_contacts"
    assert r.headers["location"] == f"{T(staff.team_id)}/contacts/{first['id']}"
    a = first["attributes"]
    assert a["email"] == f"ada.lovelace-{run}@example.test"
    assert uuid.UUID(a["contact_id"]) and a["contact_id"] != first["id"]
    assert (a["first_name"], a["last_name"], a["phone"], a["lifecycle_stage"], a["source"], a["tag_ids"],
            a["deleted_at"]) == ("Ada", None, "+44 20 0000", "customer", "import", [], None)

    r = await client.post(f"{T(staff.team_id)}/contacts", headers=hdrs(staff.headers), json=doc("team_contacts", {
        "email": f"  ADA.lovelace-{run}@example.test ", "last_name": "Lovelace", "notes": "met at a meetup"}))
    assert r.status_code == 200, r.text
    again = r.json()["data"]
    assert again["id"] == first["id"]
    b = again["attributes"]
    assert b["contact_id"] == a["contact_id"]
    assert (b["first_name"], b["last_name"], b["phone"], b["notes"], b["lifecycle_stage"], b["source"]) == (
        "Ada", "Lovelace", "+44 20 0000", "met at a meetup", "customer", "import")
    assert b["updated_at"] >= a["updated_at"] and b["created_at"] == a["created_at"]

    # the same person in another team: another team contact, the same global contact
    other = await register(client, "upsert-other")
    theirs = await add_contact(client, other.headers, other.team_id, f"ada.lovelace-{run}@example.test")
    assert theirs["id"] != first["id"]
    assert theirs["attributes"]["contact_id"] == a["contact_id"]
    assert theirs["attributes"]["first_name"] is None  # team fields stay with the team
    assert [c["id"] for c in await list_all(client, staff.headers, staff.team_id)] == [first["id"]]


async def test_patch_changes_given_fields_and_null_clears(client):
    staff = await register(client, "patch")
    c = await add_contact(client, staff.headers, staff.team_id, f"p-{uuid.uuid4().hex[:8]}@example.test",
                          first_name="Pat", notes="old", phone="123")
    url = f"{T(staff.team_id)}/contacts/{c['id']}"
    r = await client.patch(url, headers=hdrs(staff.headers),
                           json=doc("team_contacts", {"notes": None, "lifecycle_stage": "member", "last_name": " Lee "}))
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["first_name"], a["last_name"], a["notes"], a["phone"], a["lifecycle_stage"]) == (
        "Pat", "Lee", None, "123", "member")
    got = (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]
    assert got == a


async def test_invalid_contact_input_is_422_with_a_pointer(client):
    staff = await register(client, "invalid")
    h = hdrs(staff.headers)
    url = f"{T(staff.team_id)}/contacts"
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {"email": "not-an-email"})),
                 422, "invalid_email", "/data/attributes/email")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {"first_name": "No Email"})),
                 422, "missing_field", "/data/attributes/email")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {
        "email": "stage@example.test", "lifecycle_stage": "prospect"})), 422, "invalid_lifecycle_stage",
        "/data/attributes/lifecycle_stage")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {
        "email": "long@example.test", "first_name": "x" * 101})), 422, "invalid_value", "/data/attributes/first_name")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {
        "email": "long@example.test", "notes": "x" * 10_001})), 422, "invalid_value", "/data/attributes/notes")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {
        "email": "x" * 320 + "@example.test"})), 422, "invalid_value", "/data/attributes/email")
    assert_error(await client.post(url, headers=h, json=doc("team_contacts", {
        "email": "extra@example.test", "favourite_colour": "blue"})), 422, "unknown_field",
        "/data/attributes/favourite_colour")
    assert_error(await client.post(url, headers=h, json=doc("contacts", {"email": "type@example.test"})),
                 422, "invalid_value", "/data/type")
    c = await add_contact(client, staff.headers, staff.team_id, f"fine-{uuid.uuid4().hex[:6]}@example.test")
    # the email is the contact's identity: not editable on the team record
    assert_error(await client.patch(f"{url}/{c['id']}", headers=h, json=doc("team_contacts", {"email": "b@example.test"})),
                 422, "unknown_field", "/data/attributes/email")
    assert_error(await client.patch(f"{url}/{c['id']}", headers=h, json=doc("team_contacts", {"lifecycle_stage": None})),
                 422, "invalid_value", "/data/attributes/lifecycle_stage")
    assert_error(await client.get(f"{url}?filter[lifecycle_stage]=prospect", headers=staff.headers),
                 422, "invalid_filter")
    assert_error(await client.get(f"{url}?filter[colour]=blue", headers=staff.headers), 422, "unknown_filter")
    assert_error(await client.get(f"{url}?filter[tag]=not-an-id", headers=staff.headers), 422, "invalid_filter")
    assert_error(await client.get(f"{url}?filter[q]=" + "x" * 201, headers=staff.headers), 422, "invalid_filter")
    for name in ("q", "email"):
        err = assert_error(await client.get(f"{url}?filter[{name}]=a%00b", headers=staff.headers), 422, "invalid_filter")
        assert err["source"]["parameter"] == f"filter[{name}]"
    # nothing above created a contact
    assert [x["id"] for x in await list_all(client, staff.headers, staff.team_id)] == [c["id"]]


# ---- filters -------------------------------------------------------------------------------------------


async def test_filters_return_exactly_the_expected_contacts(client):
    staff = await register(client, "filters")
    h = staff.headers
    tid = staff.team_id
    run = uuid.uuid4().hex[:6]

    async def tag(name: str) -> str:
        r = await client.post(f"{T(tid)}/tags", headers=hdrs(h), json=doc("tags", {"name": name}))
        assert r.status_code == 201, r.text
        return r.json()["data"]["id"]

    vip, news = await tag("VIP"), await tag("Newsletter")
    people = {
        "alice": dict(email=f"alice-{run}@x.test", first_name="Alice", last_name="Smith", lifecycle_stage="customer"),
        "bob": dict(email=f"bob-{run}@x.test", first_name="Bob", last_name="O'Neil"),
        "carol": dict(email=f"carol_100%-{run}@x.test", first_name="Carol", lifecycle_stage="member"),
        "dave": dict(email=f"dave-{run}@x.test", first_name="Dave", last_name="Smithers"),
        "eve": dict(email=f"eve-{run}@SMITH.test", lifecycle_stage="alumni"),
        "frank": dict(email=f"frank-{run}@x.test", first_name="Fränk", last_name="Nobody", lifecycle_stage="lead"),
    }
    ids = {}
    for name, attrs in people.items():
        ids[name] = (await add_contact(client, h, tid, **attrs))["id"]
    email = {name: attrs["email"].lower() for name, attrs in people.items()}
    for name, tags in {"alice": [vip], "carol": [vip, news], "dave": [news]}.items():
        r = await client.post(f"{T(tid)}/contacts/{ids[name]}/tags/bulk", headers=hdrs(h),
                              json=doc("contact_tags", {"tag_ids": tags}))
        assert r.status_code == 200, r.text
    r = await client.delete(f"{T(tid)}/contacts/{ids['dave']}", headers=h)
    assert r.status_code == 204

    def expect(*names: str) -> list[str]:
        return [email[n] for n in names]  # creation order

    assert await emails_for(client, h, tid, "") == expect("alice", "bob", "carol", "eve", "frank")
    assert await emails_for(client, h, tid, "filter[deleted]=true") == expect("dave")
    assert await emails_for(client, h, tid, "filter[deleted]=false") == expect("alice", "bob", "carol", "eve", "frank")
    # email: exact, normalized
    assert await emails_for(client, h, tid, f"filter[email]=ALICE-{run}@x.test") == expect("alice")
    assert await emails_for(client, h, tid, f"filter[email]=alice-{run}@x.tes") == []
    assert await emails_for(client, h, tid, f"filter[email]=dave-{run}@x.test") == []
    # free text over email, first and last name, case-insensitive
    assert await emails_for(client, h, tid, "filter[q]=smith") == expect("alice", "eve")
    assert await emails_for(client, h, tid, "filter[q]=SMITH") == expect("alice", "eve")
    assert await emails_for(client, h, tid, "filter[q]=smith&filter[deleted]=true") == expect("dave")
    assert await emails_for(client, h, tid, "filter[q]=o'n") == expect("bob")
    assert await emails_for(client, h, tid, "filter[q]=fränk") == expect("frank")
    assert await emails_for(client, h, tid, "filter[q]=" + run) == expect("alice", "bob", "carol", "eve", "frank")
    # LIKE wildcards in the text are literal characters
    assert await emails_for(client, h, tid, "filter[q]=_") == expect("carol")
    assert await emails_for(client, h, tid, "filter[q]=%25") == expect("carol")
    assert await emails_for(client, h, tid, "filter[q]=l_1") == expect("carol")
    assert await emails_for(client, h, tid, "filter[q]=a%25e") == []
    # tag
    assert await emails_for(client, h, tid, f"filter[tag]={vip}") == expect("alice", "carol")
    assert await emails_for(client, h, tid, f"filter[tag]={news}") == expect("carol")
    assert await emails_for(client, h, tid, f"filter[tag]={news}&filter[deleted]=true") == expect("dave")
    assert await emails_for(client, h, tid, f"filter[tag]={uuid.uuid4()}") == []
    # lifecycle stage (the default is lead)
    assert await emails_for(client, h, tid, "filter[lifecycle_stage]=lead") == expect("bob", "frank")
    assert await emails_for(client, h, tid, "filter[lifecycle_stage]=customer") == expect("alice")
    assert await emails_for(client, h, tid, "filter[lifecycle_stage]=alumni") == expect("eve")
    # filters combine with AND
    assert await emails_for(client, h, tid, f"filter[tag]={vip}&filter[q]=smith") == expect("alice")
    assert await emails_for(client, h, tid, f"filter[tag]={vip}&filter[lifecycle_stage]=member") == expect("carol")
    assert await emails_for(client, h, tid, f"filter[tag]={vip}&filter[lifecycle_stage]=lead") == []

    # paging keeps the filter
    r = await client.get(f"{T(tid)}/contacts?filter[lifecycle_stage]=lead&page[size]=1", headers=h)
    body = r.json()
    assert [c["attributes"]["email"] for c in body["data"]] == expect("bob")
    assert body["meta"]["has_more"] is True
    r = await client.get(body["links"]["next"], headers=h)
    assert [c["attributes"]["email"] for c in r.json()["data"]] == expect("frank")
    assert r.json()["meta"]["has_more"] is False

    # another team's tag matches nothing here
    other = await register(client, "filters-other")
    r = await client.post(f"{T(other.team_id)}/tags", headers=hdrs(other.headers), json=doc("tags", {"name": "VIP"}))
    assert await emails_for(client, h, tid, f"filter[tag]={r.json()['data']['id']}") == []


async def test_segment_filter(client):
    """filter[segment] narrows to a saved segment's contacts; an unknown or foreign one is 404."""
    staff = await register(client, "segfilter")
    h, tid = staff.headers, staff.team_id
    run = uuid.uuid4().hex[:6]
    for name, stage in [("a", "customer"), ("b", "lead"), ("c", "customer"), ("d", "member")]:
        await add_contact(client, h, tid, f"{name}-{run}@seg.test", lifecycle_stage=stage)
    r = await client.post(f"{T(tid)}/segments", headers=hdrs(h), json=doc("segments", {
        "name": "Customers", "conditions": {"version": 1, "logic": "all", "groups": [
            {"logic": "all", "conditions": [{"type": "lifecycle_stage", "operator": "eq", "value": "customer"}]}]}}))
    assert r.status_code == 201, r.text
    segment_id = r.json()["data"]["id"]
    assert await emails_for(client, h, tid, f"filter[segment]={segment_id}") == [f"a-{run}@seg.test", f"c-{run}@seg.test"]
    assert await emails_for(client, h, tid, f"filter[segment]={segment_id}&filter[q]=c-") == [f"c-{run}@seg.test"]
    assert_error(await client.get(f"{T(tid)}/contacts?filter[segment]={uuid.uuid4()}", headers=h), 404, "not_found")
    assert_error(await client.get(f"{T(tid)}/contacts?filter[segment]=nope", headers=h), 404, "not_found")
    other = await register(client, "segfilter-other")
    assert_error(await client.get(f"{T(other.team_id)}/contacts?filter[segment]={segment_id}", headers=other.headers),
                 404, "not_found")


# ---- soft delete and restore --------------------------------------------------------------------------


async def test_soft_delete_hides_the_contact_and_restore_brings_it_back(client):
    staff = await register(client, "softdel")
    h, tid = staff.headers, staff.team_id
    addr = f"gone-{uuid.uuid4().hex[:6]}@example.test"
    keep = await add_contact(client, h, tid, f"keep-{uuid.uuid4().hex[:6]}@example.test")
    c = await add_contact(client, h, tid, addr, first_name="Gone")
    url = f"{T(tid)}/contacts/{c['id']}"
    r = await client.delete(url, headers=h)
    assert r.status_code == 204, r.text
    assert_error(await client.get(url, headers=h), 404, "not_found")
    assert_error(await client.patch(url, headers=hdrs(h), json=doc("team_contacts", {"first_name": "X"})), 404, "not_found")
    assert_error(await client.delete(url, headers=h), 404, "not_found")
    assert_error(await client.get(f"{url}/attributes", headers=h), 404, "not_found")
    assert [x["id"] for x in await list_all(client, h, tid)] == [keep["id"]]
    deleted = await list_all(client, h, tid, "filter[deleted]=true")
    assert [x["id"] for x in deleted] == [c["id"]]
    assert deleted[0]["attributes"]["deleted_at"] is not None
    # the upsert does not silently bring it back: restoring is explicit
    err = assert_error(await client.post(f"{T(tid)}/contacts", headers=hdrs(h),
                                         json=doc("team_contacts", {"email": addr.upper()})),
                       409, "contact_deleted", "/data/attributes/email")
    assert err["meta"]["team_contact_id"] == c["id"]

    r = await client.post(f"{url}/restore", headers=h)
    assert r.status_code == 200, r.text
    restored = r.json()["data"]
    assert restored["id"] == c["id"]
    assert restored["attributes"]["deleted_at"] is None and restored["attributes"]["first_name"] == "Gone"
    assert (await client.get(url, headers=h)).status_code == 200
    assert [x["id"] for x in await list_all(client, h, tid)] == [keep["id"], c["id"]]
    assert await list_all(client, h, tid, "filter[deleted]=true") == []
    r = await client.post(f"{url}/restore", headers=h)  # restoring a live contact changes nothing
    assert r.status_code == 200 and r.json()["data"]["attributes"]["deleted_at"] is None
    assert_error(await client.post(f"{T(tid)}/contacts/{uuid.uuid4()}/restore", headers=h), 404, "not_found")


# ---- isolation and scopes ----------------------------------------------------------------------------------


async def test_another_teams_contacts_are_404_on_every_contact_route(client):
    owner = await register(client, "iso-owner")
    c = await add_contact(client, owner.headers, owner.team_id, f"iso-{uuid.uuid4().hex[:6]}@example.test")
    deleted = await add_contact(client, owner.headers, owner.team_id, f"isod-{uuid.uuid4().hex[:6]}@example.test")
    assert (await client.delete(f"{T(owner.team_id)}/contacts/{deleted['id']}", headers=owner.headers)).status_code == 204
    intruder = await register(client, "iso-intruder")
    r = await client.post(f"{T(intruder.team_id)}/tags", headers=hdrs(intruder.headers), json=doc("tags", {"name": "Mine"}))
    their_tag = r.json()["data"]["id"]
    ih = hdrs(intruder.headers)

    def routes(team_id: str, contact_id: str) -> list[tuple[str, str, dict | None]]:
        base = f"{T(team_id)}/contacts/{contact_id}"
        return [
            ("GET", base, None),
            ("PATCH", base, doc("team_contacts", {"first_name": "Mallory"})),
            ("DELETE", base, None),
            ("POST", f"{base}/restore", None),
            ("POST", f"{base}/tags", doc("contact_tags", {"tag_id": their_tag})),
            ("POST", f"{base}/tags/bulk", doc("contact_tags", {"tag_ids": [their_tag]})),
            ("DELETE", f"{base}/tags/{their_tag}", None),
            ("GET", f"{base}/attributes", None),
            ("PATCH", f"{base}/attributes", doc("contact_attribute_values", {"values": {}})),
        ]

    # the victim's contact ids through the intruder's own team ...
    for contact_id in (c["id"], deleted["id"], "not-an-id", str(uuid.uuid4())):
        for method, url, body in routes(intruder.team_id, contact_id):
            r = await client.request(method, url, headers=ih, json=body)
            assert_error(r, 404, "not_found")
    # ... and the victim's team itself
    for method, url, body in [*routes(owner.team_id, c["id"]),
                              ("GET", f"{T(owner.team_id)}/contacts", None),
                              ("POST", f"{T(owner.team_id)}/contacts", doc("team_contacts", {"email": "m@example.test"}))]:
        r = await client.request(method, url, headers=ih, json=body)
        assert_error(r, 404, "not_found")
    # nothing changed for the owner
    r = await client.get(f"{T(owner.team_id)}/contacts/{c['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["first_name"] is None
    assert [x["id"] for x in await list_all(client, owner.headers, owner.team_id)] == [c["id"]]


async def test_scopes_guard_contact_routes(client):
    staff = await register(client, "scopes")
    reader = bearer((await create_key(client, staff, staff.team_id, ["contacts:read"]))["secret"])
    tagger = bearer((await create_key(client, staff, staff.team_id, ["tags:write"]))["secret"])
    c = await add_contact(client, staff.headers, staff.team_id, f"s-{uuid.uuid4().hex[:6]}@example.test")
    url = f"{T(staff.team_id)}/contacts"
    assert (await client.get(url, headers=reader)).status_code == 200
    assert (await client.get(f"{url}/{c['id']}", headers=reader)).status_code == 200
    for method, u, body in [
        ("POST", url, doc("team_contacts", {"email": "new@example.test"})),
        ("PATCH", f"{url}/{c['id']}", doc("team_contacts", {"first_name": "X"})),
        ("DELETE", f"{url}/{c['id']}", None),
        ("POST", f"{url}/{c['id']}/restore", None),
    ]:
        err = assert_error(await client.request(method, u, headers=hdrs(reader), json=body), 403, "insufficient_scope")
        assert err["meta"]["required_scope"] == "contacts:write"
    err = assert_error(await client.get(url, headers=tagger), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "contacts:read"


# ---- the signup event ------------------------------------------------------------------------------------


# The app runs on the test client's portal thread (its own event loop): broker calls go through
# that portal, and the handler hands payloads over through a thread-safe queue.


def _subscribe(client, broker, channel: str) -> tuple[queue.SimpleQueue[bytes], Any]:
    received: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    async def handler(ch: str, payload: bytes) -> None:
        received.put(payload)

    client.blocking_portal.call(broker.subscribe, channel, handler)
    _drain_until_probe(client, broker, channel, received, b"probe-live")  # with Redis, live asynchronously
    return received, handler


def _drain_until_probe(client, broker, channel: str, received: queue.SimpleQueue[bytes], probe: bytes) -> list[bytes]:
    """Publish ``probe`` until it comes back; everything published before it has then arrived.
    Returns what arrived before it (probes of earlier rounds left out)."""
    before: list[bytes] = []
    for _ in range(100):
        client.blocking_portal.call(broker.publish, channel, probe)
        try:
            while True:
                item = received.get(timeout=0.1 if REDIS_URL else 0.01)
                if item == probe:
                    return before
                if not item.startswith(b"probe-"):
                    before.append(item)
        except queue.Empty:
            continue
    raise AssertionError("the probe never came back")


async def test_a_signup_event_is_queued_only_for_a_new_team_contact(client, app):
    staff = await register(client, "events")
    broker = app.state.services.broker
    channel = f"team:{staff.team_id}"
    received, handler = _subscribe(client, broker, channel)
    addr = f"Signup-{uuid.uuid4().hex[:6]}@Example.test"
    created = await add_contact(client, staff.headers, staff.team_id, addr, source="landing-page",
                                lifecycle_stage="customer")
    events = [msgspec.json.decode(p) for p in _drain_until_probe(client, broker, channel, received, b"probe-1")]
    assert [e["event"] for e in events] == ["contact.signed_up"]
    e = events[0]
    assert e["channel"] == channel
    assert e["data"]["team_contact_id"] == created["id"]
    assert e["data"]["contact_id"] == created["attributes"]["contact_id"]
    assert e["data"]["email"] == addr.lower()
    assert (e["data"]["source"], e["data"]["lifecycle_stage"]) == ("landing-page", "customer")

    # the same person again (any case), an update, a delete and a restore: no signup
    await add_contact(client, staff.headers, staff.team_id, addr.upper(), status=200, first_name="Sig")
    url = f"{T(staff.team_id)}/contacts/{created['id']}"
    assert (await client.patch(url, headers=hdrs(staff.headers), json=doc("team_contacts", {"notes": "n"}))).status_code == 200
    assert (await client.delete(url, headers=staff.headers)).status_code == 204
    assert (await client.post(f"{url}/restore", headers=staff.headers)).status_code == 200
    # a refused request queues nothing either
    assert (await client.post(f"{T(staff.team_id)}/contacts", headers=hdrs(staff.headers),
                              json=doc("team_contacts", {"email": "new-but@example.test", "lifecycle_stage": "x"}))).status_code == 422
    assert _drain_until_probe(client, broker, channel, received, b"probe-2") == []

    # a new person in another team is announced on that team's channel, not this one
    other = await register(client, "events-other")
    await add_contact(client, other.headers, other.team_id, addr)
    assert _drain_until_probe(client, broker, channel, received, b"probe-3") == []
    client.blocking_portal.call(broker.unsubscribe, channel, handler)
