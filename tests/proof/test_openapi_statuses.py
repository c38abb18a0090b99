"""The OpenAPI document agrees with what the routes answer: a route that answers 200 when the thing
existed and 201 when it created it declares both, and a segment's members carry every attribute of
the ``team_contacts`` schema the document gives them (schemathesis checks bodies in general:
tests/proof/test_schemathesis.py)."""

from __future__ import annotations

from typing import Any

from tests.support.api import doc, register, w
from tests.support.crm import add_contact

BOTH = [
    ("/api/v1/teams/{team_id}/contacts", "post"),
    ("/api/v1/teams/{team_id}/contacts/{team_contact_id}/tags", "post"),
    ("/api/v1/teams/{team_id}/hubs/{hub_id}/entitlements", "post"),
    ("/api/v1/teams/{team_id}/hubs/{hub_id}/memberships", "post"),
    ("/api/v1/teams/{team_id}/hubs/{hub_id}/spaces/{space_id}/members", "post"),
    ("/api/v1/hub/{hub_id}/reports", "post"),
    ("/api/v1/hub/{hub_id}/conversations", "post"),
    ("/api/v1/hub/{hub_id}/me/accept-policies", "post"),
]


async def test_routes_answering_200_or_201_declare_both(client: Any) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path, method in BOTH:
        responses = paths[path][method]["responses"]
        assert {"200", "201"} <= set(responses), (path, sorted(responses))
        for code in ("200", "201"):
            content = responses[code]["content"]
            assert list(content) == ["application/vnd.api+json"], (path, code, content)
        assert responses["200"]["content"] == responses["201"]["content"], path


async def test_segment_members_carry_the_schema_s_required_attributes(client: Any) -> None:
    staff = await register(client, "segments")
    team = f"/api/v1/teams/{staff.team_id}"
    contact = await add_contact(client, w(staff.headers), staff.team_id, "seg-member@example.com", phone="+15550001")
    tag = (await client.post(f"{team}/tags", json=doc("tags", {"name": "vip"}), headers=w(staff.headers))).json()["data"]
    r = await client.post(f"{team}/contacts/{contact['id']}/tags", json=doc("contact_tags", {"tag_id": tag["id"]}),
                          headers=w(staff.headers))
    assert r.status_code == 201, r.text
    seg = await client.post(f"{team}/segments", headers=w(staff.headers), json=doc("segments", {
        "name": "VIPs", "conditions": {"version": 1, "logic": "all", "groups": [
            {"logic": "all", "conditions": [{"type": "tag", "operator": "has", "value": tag["id"]}]}]}}))
    assert seg.status_code == 201, seg.text
    spec = (await client.get("/schema/openapi.json")).json()
    op = spec["paths"]["/api/v1/teams/{team_id}/segments/{segment_id}/members"]["get"]
    ref = op["responses"]["200"]["content"]["application/vnd.api+json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schemas = spec["components"]["schemas"]
    item = schemas[ref]["properties"]["data"]["items"]
    item = schemas[item["$ref"].rsplit("/", 1)[-1]] if "$ref" in item else item
    attrs_schema = item["properties"]["attributes"]
    attrs_schema = schemas[attrs_schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in attrs_schema else attrs_schema
    required = set(attrs_schema["required"])
    assert {"deleted_at", "notes", "phone", "source", "tag_ids", "updated_at"} <= required

    r = await client.get(f"{team}/segments/{seg.json()['data']['id']}/members", headers=staff.headers)
    assert r.status_code == 200, r.text
    [member] = r.json()["data"]
    assert member["type"] == "team_contacts" and member["id"] == contact["id"]
    assert required <= set(member["attributes"]), required - set(member["attributes"])
    assert member["attributes"]["tag_ids"] == [tag["id"]]
    assert member["attributes"]["phone"] == "+15550001"
