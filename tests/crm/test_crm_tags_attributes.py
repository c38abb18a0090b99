"""Tags (CRUD, counts, assign, bulk assign all or nothing, remove) and contact attributes
(typed definitions, options, values validated per type, all or nothing)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from persistence.db import create_engine, session_factory
from persistence.models import ContactAttributeValue
from tests.support.api import assert_error, bearer, create_key, doc, register
from tests.support.crm import T, add_contact, hdrs, list_all
from tests.support.sql import counting

pytestmark = pytest.mark.asyncio


async def new_tag(client, staff, name: str, **attrs) -> dict:
    r = await client.post(f"{T(staff.team_id)}/tags", headers=hdrs(staff.headers), json=doc("tags", {"name": name, **attrs}))
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def new_attribute(client, staff, key: str, data_type: str, **attrs) -> dict:
    r = await client.post(f"{T(staff.team_id)}/contact-attributes", headers=hdrs(staff.headers),
                          json=doc("contact_attributes", {"key": key, "name": key.title(), "data_type": data_type, **attrs}))
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def contact_tag_ids(client, staff, team_contact_id: str) -> list[str]:
    r = await client.get(f"{T(staff.team_id)}/contacts/{team_contact_id}", headers=staff.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["attributes"]["tag_ids"])


def email() -> str:
    return f"c-{uuid.uuid4().hex[:10]}@example.test"


# ---- tags ------------------------------------------------------------------------------------------------


async def test_tag_crud_and_unique_names(client):
    staff = await register(client, "tags")
    url = f"{T(staff.team_id)}/tags"
    h = hdrs(staff.headers)
    r = await client.post(url, headers=h, json=doc("tags", {"name": " VIP ", "color": "#ff8800", "description": "Top"}))
    assert r.status_code == 201, r.text
    vip = r.json()["data"]
    assert vip["type"] == "tags" and r.headers["location"] == f"{url}/{vip['id']}"
    assert {k: vip["attributes"][k] for k in ("name", "color", "description", "contact_count")} == {
        "name": "VIP", "color": "#ff8800", "description": "Top", "contact_count": 0}
    err = assert_error(await client.post(url, headers=h, json=doc("tags", {"name": "vip"})), 409, "tag_exists",
                       "/data/attributes/name")
    assert err["meta"]["tag_id"] == vip["id"]
    assert_error(await client.post(url, headers=h, json=doc("tags", {"name": "  "})), 422, "invalid_tag_name",
                 "/data/attributes/name")
    assert_error(await client.post(url, headers=h, json=doc("tags", {"name": "x" * 101})), 422, "invalid_value",
                 "/data/attributes/name")
    assert_error(await client.post(url, headers=h, json=doc("tags", {"name": "Red", "color": "red"})), 422,
                 "invalid_color", "/data/attributes/color")
    assert_error(await client.post(url, headers=h, json=doc("tags", {"name": "Long", "description": "d" * 501})),
                 422, "invalid_value", "/data/attributes/description")
    news = await new_tag(client, staff, "Newsletter")
    # another team may use the same name
    other = await register(client, "tags-other")
    await new_tag(client, other, "VIP")

    r = await client.patch(f"{url}/{news['id']}", headers=h, json=doc("tags", {"color": "#0af", "description": "Weekly"}))
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["attributes"]["name"], r.json()["data"]["attributes"]["color"]) == ("Newsletter", "#0af")
    assert_error(await client.patch(f"{url}/{news['id']}", headers=h, json=doc("tags", {"name": "VIP"})), 409, "tag_exists")
    r = await client.patch(f"{url}/{vip['id']}", headers=h, json=doc("tags", {"name": "Vip", "color": None}))
    assert r.status_code == 200, r.text  # a change of case of its own name is fine
    assert (r.json()["data"]["attributes"]["name"], r.json()["data"]["attributes"]["color"]) == ("Vip", None)
    r = await client.get(f"{url}/{vip['id']}", headers=staff.headers)
    assert r.json()["data"]["attributes"]["description"] == "Top"

    r = await client.get(url, headers=staff.headers)
    assert [t["id"] for t in r.json()["data"]] == [vip["id"], news["id"]]
    r = await client.get(f"{url}?filter[name]=NEWSLETTER", headers=staff.headers)
    assert [t["id"] for t in r.json()["data"]] == [news["id"]]

    c = await add_contact(client, staff.headers, staff.team_id, email())
    r = await client.post(f"{T(staff.team_id)}/contacts/{c['id']}/tags", headers=h, json=doc("contact_tags", {"tag_id": news["id"]}))
    assert r.status_code == 201, r.text
    r = await client.delete(f"{url}/{news['id']}", headers=staff.headers)
    assert r.status_code == 204
    assert_error(await client.get(f"{url}/{news['id']}", headers=staff.headers), 404, "not_found")
    assert_error(await client.delete(f"{url}/{news['id']}", headers=staff.headers), 404, "not_found")
    assert await contact_tag_ids(client, staff, c["id"]) == []
    await new_tag(client, staff, "Newsletter")  # the name is free again


async def test_a_page_of_contacts_shows_each_contacts_tags_in_tagging_order(client):
    # On PostgreSQL a page reads its tags in its own statement, on SQLite in a second one: either
    # way a page says what reading each contact alone says, oldest tagging first, not in id order.
    staff = await register(client, "page-tags")
    h = hdrs(staff.headers)
    t1, t2, t3 = [await new_tag(client, staff, n) for n in ("One", "Two", "Three")]
    cs = [await add_contact(client, staff.headers, staff.team_id, email()) for _ in range(3)]
    for c, tag in [(cs[0], t3), (cs[2], t2), (cs[0], t1), (cs[0], t2)]:  # one tagging per request
        r = await client.post(f"{T(staff.team_id)}/contacts/{c['id']}/tags/bulk", headers=h,
                              json=doc("contact_tags", {"tag_ids": [tag["id"]]}))
        assert r.status_code == 200, r.text
    expected = {cs[0]["id"]: [t3["id"], t1["id"], t2["id"]], cs[1]["id"]: [], cs[2]["id"]: [t2["id"]]}
    assert {c: await contact_tag_ids(client, staff, c) for c in expected} == expected
    for size in (2, 50):  # across a page boundary, and on one page
        url = f"{T(staff.team_id)}/contacts?page[size]={size}"
        listed: dict[str, list[str]] = {}
        while url:
            body = (await client.get(url, headers=staff.headers)).json()
            listed.update({c["id"]: c["attributes"]["tag_ids"] for c in body["data"]})
            url = body["links"].get("next")
        assert listed == expected


async def test_contact_counts_count_live_contacts_with_one_grouped_query_per_page(client, app):
    staff = await register(client, "counts")
    h = hdrs(staff.headers)
    t1, t2, t3 = [await new_tag(client, staff, n) for n in ("One", "Two", "Three")]
    cs = [await add_contact(client, staff.headers, staff.team_id, email()) for _ in range(4)]
    for c, tags in zip(cs, [[t1, t2], [t1], [t1, t2], [t2]]):
        r = await client.post(f"{T(staff.team_id)}/contacts/{c['id']}/tags/bulk", headers=h,
                              json=doc("contact_tags", {"tag_ids": [t["id"] for t in tags]}))
        assert r.status_code == 200, r.text
    assert (await client.delete(f"{T(staff.team_id)}/contacts/{cs[2]['id']}", headers=staff.headers)).status_code == 204

    async def counts(query: str = "") -> dict[str, int]:
        out: dict[str, int] = {}
        url = f"{T(staff.team_id)}/tags{query}"
        while url:
            body = (await client.get(url, headers=staff.headers)).json()
            out.update({t["attributes"]["name"]: t["attributes"]["contact_count"] for t in body["data"]})
            url = body["links"].get("next")
        return out

    assert await counts() == {"One": 2, "Two": 2, "Three": 0}
    assert await counts("?page[size]=2") == {"One": 2, "Two": 2, "Three": 0}
    r = await client.get(f"{T(staff.team_id)}/tags/{t1['id']}", headers=staff.headers)
    assert r.json()["data"]["attributes"]["contact_count"] == 2
    assert (await client.post(f"{T(staff.team_id)}/contacts/{cs[2]['id']}/restore", headers=staff.headers)).status_code == 200
    assert await counts() == {"One": 3, "Two": 3, "Three": 0}
    assert (await client.delete(f"{T(staff.team_id)}/contacts/{cs[0]['id']}/tags/{t2['id']}",
                                headers=staff.headers)).status_code == 204
    assert await counts() == {"One": 3, "Two": 2, "Three": 0}

    # the number of statements for a page does not grow with the number of tags on it
    # (counted from the request's own task: the app's background jobs poll the same engine)
    with counting(client, app) as statements:
        await client.get(f"{T(staff.team_id)}/tags?page[size]=1", headers=staff.headers)
        one = len(statements)
        for n in range(12):
            await new_tag(client, staff, f"More {n}")
        statements.clear()
        r = await client.get(f"{T(staff.team_id)}/tags?page[size]=100", headers=staff.headers)
        assert len(r.json()["data"]) == 15
        many = len(statements)
    assert many == one, (one, many)


async def test_assigning_a_tag_is_idempotent_and_removing_it_too(client):
    staff = await register(client, "assign")
    h = hdrs(staff.headers)
    vip = await new_tag(client, staff, "VIP")
    c = await add_contact(client, staff.headers, staff.team_id, email())
    url = f"{T(staff.team_id)}/contacts/{c['id']}/tags"
    r = await client.post(url, headers=h, json=doc("contact_tags", {"tag_id": vip["id"]}))
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["type"] == "contact_tags"
    assert (data["attributes"]["team_contact_id"], data["attributes"]["tag_id"]) == (c["id"], vip["id"])
    r = await client.post(url, headers=h, json=doc("contact_tags", {"tag_id": vip["id"]}))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["created_at"] == data["attributes"]["created_at"]
    assert await contact_tag_ids(client, staff, c["id"]) == [vip["id"]]

    other = await register(client, "assign-other")
    foreign = await new_tag(client, other, "Theirs")
    for bad in (foreign["id"], str(uuid.uuid4()), "nope"):
        assert_error(await client.post(url, headers=h, json=doc("contact_tags", {"tag_id": bad})), 422, "unknown_tag",
                     "/data/attributes/tag_id")
    assert_error(await client.post(url, headers=h, json=doc("contact_tags", {})), 422, "missing_field",
                 "/data/attributes/tag_id")
    assert await contact_tag_ids(client, staff, c["id"]) == [vip["id"]]

    assert (await client.delete(f"{url}/{vip['id']}", headers=staff.headers)).status_code == 204
    assert await contact_tag_ids(client, staff, c["id"]) == []
    assert (await client.delete(f"{url}/{vip['id']}", headers=staff.headers)).status_code == 204  # already off
    assert_error(await client.delete(f"{url}/{foreign['id']}", headers=staff.headers), 404, "not_found")
    assert_error(await client.delete(f"{url}/{uuid.uuid4()}", headers=staff.headers), 404, "not_found")


async def test_bulk_assignment_is_all_or_nothing(client):
    staff = await register(client, "bulk")
    h = hdrs(staff.headers)
    a, b, c3 = [await new_tag(client, staff, n) for n in ("A", "B", "C")]
    other = await register(client, "bulk-other")
    foreign = await new_tag(client, other, "Foreign")
    contact = await add_contact(client, staff.headers, staff.team_id, email())
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/tags/bulk"
    for ids, index in [([a["id"], b["id"], foreign["id"], c3["id"]], 2),
                       ([a["id"], "not-an-id"], 1),
                       ([str(uuid.uuid4())], 0),
                       ([a["id"], b["id"], c3["id"], a["id"], foreign["id"]], 4)]:
        assert_error(await client.post(url, headers=h, json=doc("contact_tags", {"tag_ids": ids})), 422, "unknown_tag",
                     f"/data/attributes/tag_ids/{index}")
        assert await contact_tag_ids(client, staff, contact["id"]) == []
    assert_error(await client.post(url, headers=h, json=doc("contact_tags", {"tag_ids": [a["id"]] * 101})),
                 422, "invalid_value", "/data/attributes/tag_ids")
    assert_error(await client.post(url, headers=h, json=doc("contact_tags", {"tag_ids": a["id"]})),
                 422, "invalid_value", "/data/attributes/tag_ids")

    r = await client.post(f"{T(staff.team_id)}/contacts/{contact['id']}/tags", headers=h,
                          json=doc("contact_tags", {"tag_id": b["id"]}))
    assert r.status_code == 201
    r = await client.post(url, headers=h, json=doc("contact_tags", {"tag_ids": [a["id"], b["id"], a["id"]]}))
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    assert [(x["type"], x["attributes"]["tag_id"]) for x in got] == [("contact_tags", a["id"]), ("contact_tags", b["id"])]
    assert sorted(await contact_tag_ids(client, staff, contact["id"])) == sorted([a["id"], b["id"]])
    r = await client.post(url, headers=h, json=doc("contact_tags", {"tag_ids": []}))
    assert r.status_code == 200 and r.json()["data"] == []
    tags = (await client.get(f"{T(staff.team_id)}/tags", headers=staff.headers)).json()["data"]
    assert {t["attributes"]["name"]: t["attributes"]["contact_count"] for t in tags} == {"A": 1, "B": 1, "C": 0}


async def test_tag_scopes(client):
    staff = await register(client, "tagscopes")
    contact = await add_contact(client, staff.headers, staff.team_id, email())
    vip = await new_tag(client, staff, "VIP")
    tags_only = hdrs(bearer((await create_key(client, staff, staff.team_id, ["tags:write"]))["secret"]))
    contacts_only = hdrs(bearer((await create_key(client, staff, staff.team_id, ["contacts:write"]))["secret"]))
    base = f"{T(staff.team_id)}/contacts/{contact['id']}/tags"
    # tagging a contact changes the contact: contacts:write, not tags:write
    for method, url, body in [("POST", base, doc("contact_tags", {"tag_id": vip["id"]})),
                              ("POST", f"{base}/bulk", doc("contact_tags", {"tag_ids": [vip["id"]]})),
                              ("DELETE", f"{base}/{vip['id']}", None)]:
        err = assert_error(await client.request(method, url, headers=tags_only, json=body), 403, "insufficient_scope")
        assert err["meta"]["required_scope"] == "contacts:write"
    r = await client.post(base, headers=contacts_only, json=doc("contact_tags", {"tag_id": vip["id"]}))
    assert r.status_code == 201, r.text
    # managing tags needs tags scopes
    err = assert_error(await client.post(f"{T(staff.team_id)}/tags", headers=contacts_only,
                                         json=doc("tags", {"name": "X"})), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "tags:write"
    assert_error(await client.get(f"{T(staff.team_id)}/tags", headers=contacts_only), 403, "insufficient_scope")
    assert (await client.get(f"{T(staff.team_id)}/tags", headers=tags_only)).status_code == 200
    r = await client.post(f"{T(staff.team_id)}/tags", headers=tags_only, json=doc("tags", {"name": "ByKey"}))
    assert r.status_code == 201


async def test_another_teams_tags_and_attributes_are_404_on_every_route(client):
    owner = await register(client, "iso2-owner")
    tag = await new_tag(client, owner, "Secret")
    attr = await new_attribute(client, owner, "plan", "select", options=[{"value": "gold"}])
    intruder = await register(client, "iso2-intruder")
    ih = hdrs(intruder.headers)

    def routes(team_id: str, tag_id: str, attr_id: str) -> list[tuple[str, str, dict | None]]:
        return [
            ("GET", f"{T(team_id)}/tags/{tag_id}", None),
            ("PATCH", f"{T(team_id)}/tags/{tag_id}", doc("tags", {"name": "Mine now"})),
            ("DELETE", f"{T(team_id)}/tags/{tag_id}", None),
            ("GET", f"{T(team_id)}/contact-attributes/{attr_id}", None),
            ("PATCH", f"{T(team_id)}/contact-attributes/{attr_id}", doc("contact_attributes", {"name": "Mine"})),
            ("DELETE", f"{T(team_id)}/contact-attributes/{attr_id}", None),
            ("GET", f"{T(team_id)}/contact-attributes/{attr_id}/options", None),
            ("POST", f"{T(team_id)}/contact-attributes/{attr_id}/options", doc("contact_attribute_options", {"value": "x"})),
        ]

    for tag_id, attr_id in [(tag["id"], attr["id"]), ("nope", "nope"), (str(uuid.uuid4()), str(uuid.uuid4()))]:
        for method, url, body in routes(intruder.team_id, tag_id, attr_id):
            assert_error(await client.request(method, url, headers=ih, json=body), 404, "not_found")
    for method, url, body in [*routes(owner.team_id, tag["id"], attr["id"]),
                              ("GET", f"{T(owner.team_id)}/tags", None),
                              ("POST", f"{T(owner.team_id)}/tags", doc("tags", {"name": "Z"})),
                              ("GET", f"{T(owner.team_id)}/contact-attributes", None),
                              ("POST", f"{T(owner.team_id)}/contact-attributes",
                               doc("contact_attributes", {"key": "k", "name": "K", "data_type": "text"}))]:
        assert_error(await client.request(method, url, headers=ih, json=body), 404, "not_found")
    r = await client.get(f"{T(owner.team_id)}/tags/{tag['id']}", headers=owner.headers)
    assert r.json()["data"]["attributes"]["name"] == "Secret"
    r = await client.get(f"{T(owner.team_id)}/contact-attributes/{attr['id']}", headers=owner.headers)
    assert [o["value"] for o in r.json()["data"]["attributes"]["options"]] == ["gold"]
    # and an intruder's contact cannot be given the owner's values or tags through its own team
    mine = await add_contact(client, intruder.headers, intruder.team_id, email())
    assert_error(await client.post(f"{T(intruder.team_id)}/contacts/{mine['id']}/tags", headers=ih,
                                   json=doc("contact_tags", {"tag_id": tag["id"]})), 422, "unknown_tag")
    assert_error(await client.patch(f"{T(intruder.team_id)}/contacts/{mine['id']}/attributes", headers=ih,
                                    json=doc("contact_attribute_values", {"values": {"plan": "gold"}})),
                 422, "unknown_attribute", "/data/attributes/values/plan")


# ---- attribute definitions and options --------------------------------------------------------------------


async def test_attribute_definitions_and_options(client):
    staff = await register(client, "attrs")
    h = hdrs(staff.headers)
    url = f"{T(staff.team_id)}/contact-attributes"
    r = await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "plan", "name": "Plan", "data_type": "select", "description": "What they pay for",
        "options": [{"value": "pro", "label": "Pro", "position": 2}, {"value": "free", "position": 1}]}))
    assert r.status_code == 201, r.text
    plan = r.json()["data"]
    assert plan["type"] == "contact_attributes"
    a = plan["attributes"]
    assert (a["key"], a["name"], a["data_type"], a["description"]) == ("plan", "Plan", "select", "What they pay for")
    assert [(o["value"], o["label"], o["position"]) for o in a["options"]] == [("free", "free", 1), ("pro", "Pro", 2)]

    err = assert_error(await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "plan", "name": "Again", "data_type": "text"})), 409, "attribute_exists", "/data/attributes/key")
    assert err["meta"]["attribute_id"] == plan["id"]
    for key in ("Plan", "1plan", "has space", "", "x" * 65, "ünïcode"):
        r = await client.post(url, headers=h, json=doc("contact_attributes", {"key": key, "name": "N", "data_type": "text"}))
        assert r.status_code == 422, (key, r.text)
        assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/key"
    assert_error(await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "k", "name": "K", "data_type": "json"})), 422, "invalid_data_type", "/data/attributes/data_type")
    assert_error(await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "k", "name": "K", "data_type": "text", "options": [{"value": "a"}]})), 422, "options_not_supported",
        "/data/attributes/options")
    assert_error(await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "k", "name": "K", "data_type": "select", "options": [{"value": "a"}, {"value": "a"}]})), 409,
        "option_exists", "/data/attributes/options/1/value")
    assert_error(await client.post(url, headers=h, json=doc("contact_attributes", {
        "key": "k", "name": " ", "data_type": "text"})), 422, "invalid_name", "/data/attributes/name")

    opts = f"{url}/{plan['id']}/options"
    r = await client.post(opts, headers=h, json=doc("contact_attribute_options", {"value": "team", "label": "Team"}))
    assert r.status_code == 201, r.text
    team_opt = r.json()["data"]
    assert team_opt["type"] == "contact_attribute_options"
    assert (team_opt["attributes"]["value"], team_opt["attributes"]["position"],
            team_opt["attributes"]["attribute_id"]) == ("team", 3, plan["id"])
    assert_error(await client.post(opts, headers=h, json=doc("contact_attribute_options", {"value": "pro"})), 409,
                 "option_exists", "/data/attributes/value")
    assert_error(await client.post(opts, headers=h, json=doc("contact_attribute_options", {"value": "x", "position": -1})),
                 422, "invalid_value", "/data/attributes/position")
    assert_error(await client.post(opts, headers=h, json=doc("contact_attribute_options", {"value": "x" * 101})),
                 422, "invalid_value", "/data/attributes/value")
    r = await client.get(opts, headers=staff.headers)
    assert [o["attributes"]["value"] for o in r.json()["data"]] == ["pro", "free", "team"]  # creation order
    r = await client.get(f"{url}/{plan['id']}", headers=staff.headers)
    assert [o["value"] for o in r.json()["data"]["attributes"]["options"]] == ["free", "pro", "team"]  # position

    for data_type in ("text", "number", "date", "boolean"):
        attr = await new_attribute(client, staff, f"a_{data_type}", data_type)
        assert attr["attributes"]["options"] == []
        assert_error(await client.post(f"{url}/{attr['id']}/options", headers=h,
                                       json=doc("contact_attribute_options", {"value": "x"})), 422, "options_not_supported")
    tags = await new_attribute(client, staff, "interests", "multi_select")
    r = await client.post(f"{url}/{tags['id']}/options", headers=h, json=doc("contact_attribute_options", {"value": "yoga"}))
    assert r.status_code == 201 and r.json()["data"]["attributes"]["position"] == 0

    r = await client.patch(f"{url}/{plan['id']}", headers=h, json=doc("contact_attributes", {"name": "Pricing plan"}))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["name"] == "Pricing plan"
    assert r.json()["data"]["attributes"]["description"] == "What they pay for"
    assert_error(await client.patch(f"{url}/{plan['id']}", headers=h, json=doc("contact_attributes", {"data_type": "text"})),
                 422, "unknown_field", "/data/attributes/data_type")

    listed = (await client.get(url, headers=staff.headers)).json()["data"]
    assert [x["attributes"]["key"] for x in listed] == ["plan", "a_text", "a_number", "a_date", "a_boolean", "interests"]
    assert [o["value"] for o in listed[0]["attributes"]["options"]] == ["free", "pro", "team"]


# ---- attribute values ----------------------------------------------------------------------------------------


async def _values_setup(client, label: str):
    staff = await register(client, label)
    await new_attribute(client, staff, "company", "text")
    await new_attribute(client, staff, "score", "number")
    await new_attribute(client, staff, "birthday", "date")
    await new_attribute(client, staff, "vip", "boolean")
    await new_attribute(client, staff, "plan", "select", options=[{"value": "free"}, {"value": "pro"}])
    interests = await new_attribute(client, staff, "interests", "multi_select", options=[
        {"value": "yoga", "position": 2}, {"value": "chess", "position": 1}, {"value": "golf", "position": 3}])
    contact = await add_contact(client, staff.headers, staff.team_id, email())
    return staff, contact, interests


async def test_attribute_values_round_trip_per_type(client, database_url):
    staff, contact, interests = await _values_setup(client, "values")
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/attributes"
    r = await client.get(url, headers=staff.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["type"] == "contact_attribute_values"
    assert r.json()["data"]["id"] == contact["id"]
    assert r.json()["data"]["attributes"]["values"] == {}

    values = {"company": "Acme", "score": 42, "birthday": "1990-05-17", "vip": True, "plan": "pro",
              "interests": ["yoga", "chess", "yoga"]}
    r = await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": values}))
    assert r.status_code == 200, r.text
    expected = {"company": "Acme", "score": 42, "birthday": "1990-05-17T00:00:00Z", "vip": True, "plan": "pro",
                "interests": ["chess", "yoga"]}  # options in their display order
    assert r.json()["data"]["attributes"]["values"] == expected
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]["values"] == expected

    # stored in the typed columns; a multi_select as one row per option
    engine = create_engine(database_url)  # the app's own pool lives on the test client's loop
    try:
        async with session_factory(engine)() as s:
            rows = (await s.scalars(sa.select(ContactAttributeValue)
                                    .where(ContactAttributeValue.team_contact_id == uuid.UUID(contact["id"])))).all()
    finally:
        await engine.dispose()
    by_attr: dict[str, list[ContactAttributeValue]] = {}
    for row in rows:
        by_attr.setdefault(str(row.attribute_id), []).append(row)
    assert sorted(row.value_text for row in by_attr[interests["id"]]) == ["chess", "yoga"]
    date_rows = [row for row in rows if row.value_date is not None]
    assert len(date_rows) == 1 and date_rows[0].value_date.isoformat() == "1990-05-17T00:00:00+00:00"
    assert date_rows[0].value_text is None and date_rows[0].value_number is None
    assert [row.value_number for row in rows if row.value_number is not None] == [42.0]
    assert [row.value_bool for row in rows if row.value_bool is not None] == [True]
    assert len(rows) == 7

    # change some, clear some, leave the rest
    r = await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": {
        "score": 2.5, "birthday": "2024-05-01T09:30:00+02:00", "vip": False, "company": None, "interests": ["golf"]}}))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["values"] == {
        "score": 2.5, "birthday": "2024-05-01T07:30:00Z", "vip": False, "plan": "pro", "interests": ["golf"]}
    r = await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": {
        "interests": [], "plan": None, "score": -1e300}}))
    assert r.json()["data"]["attributes"]["values"] == {
        "score": -1e300, "birthday": "2024-05-01T07:30:00Z", "vip": False}


@pytest.mark.parametrize("key, value, code, pointer_suffix", [
    ("company", 12, "invalid_attribute_value", ""),
    ("company", ["Acme"], "invalid_attribute_value", ""),
    ("company", "x" * 5001, "invalid_attribute_value", ""),
    ("score", "12", "invalid_attribute_value", ""),
    ("score", True, "invalid_attribute_value", ""),
    ("score", {"n": 1}, "invalid_attribute_value", ""),
    ("birthday", "yesterday", "invalid_attribute_value", ""),
    ("birthday", "2024-02-30", "invalid_attribute_value", ""),
    ("birthday", 20240501, "invalid_attribute_value", ""),
    ("birthday", "0001-01-01T00:00:00+05:00", "invalid_attribute_value", ""),
    ("vip", "true", "invalid_attribute_value", ""),
    ("vip", 1, "invalid_attribute_value", ""),
    ("plan", "enterprise", "unknown_option", ""),
    ("plan", "PRO", "unknown_option", ""),
    ("plan", ["pro"], "invalid_attribute_value", ""),
    ("interests", "yoga", "invalid_attribute_value", ""),
    ("interests", ["yoga", 3], "invalid_attribute_value", ""),
    ("interests", ["yoga", "darts"], "unknown_option", "/1"),
    ("nickname", "Ace", "unknown_attribute", ""),
])
async def test_a_wrong_value_is_422_at_its_key_and_nothing_changes(client, key, value, code, pointer_suffix):
    staff, contact, _ = await _values_setup(client, "badvalues")
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/attributes"
    before = {"company": "Acme", "score": 1, "plan": "free", "interests": ["golf"]}
    r = await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": before}))
    assert r.status_code == 200, r.text
    # the bad value comes after valid ones: those are not applied either
    body = {"company": "Changed", "vip": True, "interests": ["chess"], key: value} if key != "company" else \
        {"vip": True, "interests": ["chess"], key: value}
    assert_error(await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": body})),
                 422, code, f"/data/attributes/values/{key}{pointer_suffix}")
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]["values"] == before


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"1" + b"0" * 400])
async def test_a_number_beyond_a_double_is_refused(client, literal):
    staff, contact, _ = await _values_setup(client, "bignumber")
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/attributes"
    body = b'{"data": {"type": "contact_attribute_values", "attributes": {"values": {"score": ' + literal + b"}}}}"
    r = await client.patch(url, headers=hdrs(staff.headers), content=body)
    # JSON itself has no limit on numbers; the body codec may refuse one beyond its range as
    # malformed (400) before the attribute check sees it (422 at the value): never a 500
    if r.status_code == 400:
        assert_error(r, 400, "invalid_json")
    else:
        err = assert_error(r, 422, r.json()["errors"][0]["code"])
        assert err["code"] in {"invalid_attribute_value", "invalid_value"}
        # the codec names the map (msgspec's path stops there); the attribute check names the key
        assert err["source"]["pointer"] in {"/data/attributes/values", "/data/attributes/values/score"}
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]["values"] == {}


async def test_value_pointers_escape_the_key(client):
    staff, contact, _ = await _values_setup(client, "escape")
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/attributes"
    assert_error(await client.patch(url, headers=hdrs(staff.headers),
                                    json=doc("contact_attribute_values", {"values": {"a/b~c": 1}})),
                 422, "unknown_attribute", "/data/attributes/values/a~1b~0c")
    assert_error(await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": []})),
                 422, "invalid_value", "/data/attributes/values")


async def test_deleting_a_definition_deletes_its_values(client):
    staff, contact, interests = await _values_setup(client, "defdelete")
    url = f"{T(staff.team_id)}/contacts/{contact['id']}/attributes"
    r = await client.patch(url, headers=hdrs(staff.headers), json=doc("contact_attribute_values", {"values": {
        "interests": ["yoga"], "vip": True}}))
    assert r.status_code == 200
    assert (await client.delete(f"{T(staff.team_id)}/contact-attributes/{interests['id']}",
                                headers=staff.headers)).status_code == 204
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]["values"] == {"vip": True}
    assert_error(await client.get(f"{T(staff.team_id)}/contact-attributes/{interests['id']}", headers=staff.headers),
                 404, "not_found")
    # the key is free again
    await new_attribute(client, staff, "interests", "text")
    assert [x["attributes"]["email"] for x in await list_all(client, staff.headers, staff.team_id)] == [
        contact["attributes"]["email"]]


async def test_attribute_scopes(client):
    staff, contact, _ = await _values_setup(client, "attrscopes")
    reader = hdrs(bearer((await create_key(client, staff, staff.team_id, ["contacts:read"]))["secret"]))
    assert (await client.get(f"{T(staff.team_id)}/contact-attributes", headers=reader)).status_code == 200
    assert (await client.get(f"{T(staff.team_id)}/contacts/{contact['id']}/attributes", headers=reader)).status_code == 200
    err = assert_error(await client.post(f"{T(staff.team_id)}/contact-attributes", headers=reader, json=doc(
        "contact_attributes", {"key": "k", "name": "K", "data_type": "text"})), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "contacts:write"
    assert_error(await client.patch(f"{T(staff.team_id)}/contacts/{contact['id']}/attributes", headers=reader,
                                    json=doc("contact_attribute_values", {"values": {"vip": True}})), 403, "insufficient_scope")


async def test_crm_routes_are_in_the_openapi_schema(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    paths = r.json()["paths"]
    T_ = "/api/v1/teams/{team_id}"
    expected = {
        "/contacts": {"get", "post"},
        "/contacts/{team_contact_id}": {"get", "patch", "delete"},
        "/contacts/{team_contact_id}/restore": {"post"},
        "/contacts/{team_contact_id}/tags": {"post"},
        "/contacts/{team_contact_id}/tags/bulk": {"post"},
        "/contacts/{team_contact_id}/tags/{tag_id}": {"delete"},
        "/contacts/{team_contact_id}/attributes": {"get", "patch"},
        "/tags": {"get", "post"},
        "/tags/{tag_id}": {"get", "patch", "delete"},
        "/contact-attributes": {"get", "post"},
        "/contact-attributes/{attribute_id}": {"get", "patch", "delete"},
        "/contact-attributes/{attribute_id}/options": {"get", "post"},
    }
    for suffix, methods in expected.items():
        item = paths.get(T_ + suffix)
        assert item is not None, (suffix, sorted(p for p in paths if "/contact" in p or "/tags" in p))
        assert methods <= set(item), (suffix, set(item))
        for method in methods & {"post", "patch"}:
            if suffix.endswith("/restore"):
                continue
            assert "requestBody" in item[method], (suffix, method)
