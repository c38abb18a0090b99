"""Deliverables (each type's target checked against the team's data, another team's or a deleted
target 404, duplicates 409) and hub product displays (the team's products only, once per hub,
catalog order, position and featured updated, taken out again)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import assert_error, doc
from tests.support.catalog import Shop, open_shop
from tests.support.hubs import new_hub

A = "/data/attributes/"


async def new_tag(client: Any, shop: Shop) -> str:
    r = await client.post(f"{shop.t}/tags", json=doc("tags", {"name": f"T {uuid.uuid4().hex[:6]}"}), headers=shop.wh)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def new_space(client: Any, shop: Shop, hub: Any = None) -> str:
    hub = hub or shop.hub
    r = await client.post(f"{hub.url}/spaces", json=doc("spaces", {"name": f"S {uuid.uuid4().hex[:6]}"}),
                          headers=shop.wh)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def test_each_deliverable_type_with_its_target(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    url = shop.product_url(product["id"], "/deliverables")
    space, tag, anything = await new_space(client, shop), await new_tag(client, shop), str(uuid.uuid4())
    made = [await shop.deliverable(client, product["id"], "hub_access", shop.hub.id),
            await shop.deliverable(client, product["id"], "community_access", space),
            await shop.deliverable(client, product["id"], "tag", tag),
            await shop.deliverable(client, product["id"], "content_enrollment", anything),
            await shop.deliverable(client, product["id"], "file_download", anything)]
    assert [(d["attributes"]["type"], d["attributes"]["target_id"], d["attributes"]["product_id"]) for d in made] == [
        ("hub_access", shop.hub.id, product["id"]), ("community_access", space, product["id"]),
        ("tag", tag, product["id"]), ("content_enrollment", anything, product["id"]),
        ("file_download", anything, product["id"])]
    assert [d["id"] for d in (await shop.get(client, url))["data"]] == [d["id"] for d in made]
    assert [d["id"] for d in (await shop.get(client, f"{url}?filter[type]=tag"))["data"]] == [made[2]["id"]]
    assert_error(await client.get(f"{url}?filter[type]=gift", headers=shop.staff.headers), 422, "invalid_filter")
    assert (await shop.get(client, f"{url}/{made[0]['id']}"))["data"] == made[0]

    # the same type on the same target twice is a conflict; the same target with another type is not
    assert_error(await client.post(url, json=doc("product_deliverables", {"type": "tag", "target_id": tag}),
                                   headers=shop.wh), 409, "duplicate_deliverable", A + "target_id")
    assert (await client.delete(f"{url}/{made[2]['id']}", headers=shop.staff.headers)).status_code == 204
    assert_error(await client.get(f"{url}/{made[2]['id']}", headers=shop.staff.headers), 404, "not_found")
    await shop.deliverable(client, product["id"], "tag", tag)  # free again
    other = await shop.product(client)
    assert_error(await client.get(shop.product_url(other["id"], f"/deliverables/{made[0]['id']}"),
                                  headers=shop.staff.headers), 404, "not_found")


async def test_deliverable_targets_must_be_the_teams(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    url = shop.product_url(product["id"], "/deliverables")
    other = await open_shop(client)
    foreign = {"hub_access": other.hub.id, "community_access": await new_space(client, other),
               "tag": await new_tag(client, other)}
    # a deleted hub and a deleted space of the team are gone too
    gone_hub = await new_hub(client, shop.staff)
    gone_space = await new_space(client, shop)
    assert (await client.delete(gone_hub.url, headers=shop.staff.headers)).status_code == 204
    assert (await client.delete(f"{shop.hub.url}/spaces/{gone_space}", headers=shop.staff.headers)).status_code == 204
    cases = [*foreign.items(), ("hub_access", gone_hub.id), ("community_access", gone_space),
             ("hub_access", str(uuid.uuid4())), ("tag", str(uuid.uuid4())), ("community_access", shop.hub.id)]
    for kind, target in cases:
        assert_error(await client.post(url, json=doc("product_deliverables", {"type": kind, "target_id": target}),
                                       headers=shop.wh), 404, "not_found", A + "target_id")
    for attrs, code, field in [({"type": "gift", "target_id": shop.hub.id}, "invalid_deliverable_type", "type"),
                               ({"type": "hub_access", "target_id": "not-an-id"}, "invalid_id", "target_id"),
                               ({"type": "file_download", "target_id": ""}, "invalid_id", "target_id")]:
        assert_error(await client.post(url, json=doc("product_deliverables", attrs), headers=shop.wh), 422, code,
                     A + field)
    assert_error(await client.post(url, json=doc("product_deliverables", {"type": "tag"}), headers=shop.wh), 422,
                 "missing_field", A + "target_id")
    # nor may another team add deliverables to this product
    assert_error(await client.post(other.product_url(product["id"], "/deliverables"), headers=other.wh,
                                   json=doc("product_deliverables", {"type": "hub_access", "target_id": other.hub.id})),
                 404, "not_found")
    assert (await shop.get(client, url))["data"] == []


async def test_a_product_delivers_at_most_twenty_things(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    for _ in range(20):
        await shop.deliverable(client, product["id"], "file_download", str(uuid.uuid4()))
    r = await client.post(shop.product_url(product["id"], "/deliverables"), headers=shop.wh,
                          json=doc("product_deliverables", {"type": "file_download", "target_id": str(uuid.uuid4())}))
    assert_error(r, 422, "too_many_deliverables")


async def test_hub_product_displays(client: Any, shop: Shop) -> None:
    url = f"{shop.hub.url}/products"
    a, b, c = await shop.product(client), await shop.product(client), await shop.product(client)
    da = await shop.display(client, a["id"], position=2)
    db = await shop.display(client, b["id"], position=1, featured=True)
    dc = await shop.display(client, c["id"], position=2)
    assert {k: da["attributes"][k] for k in ("hub_id", "product_id", "position", "featured")} == {
        "hub_id": shop.hub.id, "product_id": a["id"], "position": 2, "featured": False}
    assert da["links"]["self"] == f"{url}/{da['id']}"

    r = await client.get(url, params={"page[size]": 2}, headers=shop.staff.headers)
    assert [d["id"] for d in r.json()["data"]] == [db["id"], da["id"]] and r.json()["meta"]["has_more"]
    r = await client.get(r.json()["links"]["next"], headers=shop.staff.headers)
    assert [d["id"] for d in r.json()["data"]] == [dc["id"]] and not r.json()["meta"]["has_more"]
    assert [d["id"] for d in (await shop.get(client, f"{url}?filter[featured]=true"))["data"]] == [db["id"]]
    assert [d["id"] for d in (await shop.get(client, f"{url}?filter[product_id]={c['id']}"))["data"]] == [dc["id"]]
    assert_error(await client.get(f"{url}?filter[product_id]=x", headers=shop.staff.headers), 422, "invalid_filter")

    r = await client.patch(f"{url}/{dc['id']}", json=doc("hub_product_displays", {"position": 0, "featured": True},
                                                          id=dc["id"]), headers=shop.wh)
    assert r.status_code == 200, r.text
    assert [d["id"] for d in (await shop.get(client, url))["data"]] == [dc["id"], db["id"], da["id"]]
    assert_error(await client.patch(f"{url}/{dc['id']}", json=doc("hub_product_displays", {"product_id": a["id"]}),
                                    headers=shop.wh), 422, "unknown_field", A + "product_id")

    # once per hub; another hub of the team may show it too
    assert_error(await client.post(url, json=doc("hub_product_displays", {"product_id": a["id"]}), headers=shop.wh),
                 409, "duplicate_display", A + "product_id")
    second = await new_hub(client, shop.staff)
    await shop.display(client, a["id"], hub=second)
    assert_error(await client.get(f"{second.url}/products/{da['id']}", headers=shop.staff.headers), 404, "not_found")

    assert (await client.delete(f"{url}/{da['id']}", headers=shop.staff.headers)).status_code == 204
    assert_error(await client.get(f"{url}/{da['id']}", headers=shop.staff.headers), 404, "not_found")
    assert (await shop.get(client, shop.product_url(a["id"])))["data"]["id"] == a["id"]  # the product stays


async def test_invalid_displays_are_refused_and_change_nothing(client: Any, shop: Shop) -> None:
    url = f"{shop.hub.url}/products"
    product = await shop.product(client)
    kept = await shop.display(client, product["id"])
    other = await open_shop(client)
    foreign = await other.product(client)
    deleted = await shop.product(client)
    assert (await client.delete(shop.product_url(deleted["id"]), headers=shop.staff.headers)).status_code == 204
    fresh = await shop.product(client)
    for attrs, status, code, field in [
        ({"product_id": foreign["id"]}, 404, "not_found", "product_id"),
        ({"product_id": deleted["id"]}, 404, "not_found", "product_id"),
        ({"product_id": "nope"}, 422, "invalid_id", "product_id"),
        ({"product_id": fresh["id"], "position": 1_000_001}, 422, "invalid_position", "position"),
        ({"product_id": fresh["id"], "position": "1"}, 422, "invalid_value", "position"),
        ({"product_id": fresh["id"], "featured": 1}, 422, "invalid_value", "featured"),
    ]:
        assert_error(await client.post(url, json=doc("hub_product_displays", attrs), headers=shop.wh), status, code,
                     A + field)
    assert_error(await client.patch(f"{url}/{kept['id']}", json=doc("hub_product_displays", {"position": -1_000_001}),
                                    headers=shop.wh), 422, "invalid_position", A + "position")
    # another team reaches neither this hub nor these displays, and cannot display its product here
    assert_error(await client.get(url, headers=other.staff.headers), 404, "not_found")
    assert_error(await client.post(f"{other.hub.url}/products", json=doc("hub_product_displays",
                                                                         {"product_id": product["id"]}),
                                   headers=other.wh), 404, "not_found", A + "product_id")
    assert (await shop.get(client, url))["data"] == [kept]
    assert (await other.get(client, f"{other.hub.url}/products"))["data"] == []
