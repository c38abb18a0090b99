"""The member side, H/catalog: the products a hub displays that are active and have an active
price, in display order with their active prices; archived or deleted products and prices never
shown; a product whose entitlements the member already holds left out until they lapse; and the
same rule for one price (storefront.sellable_price, what checkout sells)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from domain.catalog.storefront import sellable_price
from tests.support.api import assert_error, doc
from tests.support.app import in_app
from tests.support.catalog import Buyer, Shop, open_shop
from tests.support.hubs import act, new_hub


async def catalog(client: Any, shop: Shop, buyer: Buyer, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"{shop.h}/catalog", params=params, headers=buyer.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_the_catalog_shows_displayed_active_products_with_their_active_prices(client: Any, shop: Shop) -> None:
    ann = await shop.buyer(client)
    course = await shop.product(client, name="Course", description="Learn", image_url="https://cdn.example/c.png",
                                metadata={"internal": "yes"})
    once = await shop.price(client, course["id"], amount=4900, currency="usd", nickname="Once")
    monthly = await shop.price(client, course["id"], amount=900, type="recurring", interval="month",
                               trial_period_days=7)
    archived_price = await shop.price(client, course["id"], amount=100)
    deleted_price = await shop.price(client, course["id"], amount=200)
    await client.patch(shop.product_url(course["id"], f"/prices/{archived_price['id']}"),
                       json=doc("prices", {"active": False}), headers=shop.wh)
    await client.delete(shop.product_url(course["id"], f"/prices/{deleted_price['id']}"), headers=shop.staff.headers)
    await shop.display(client, course["id"], position=2, featured=True)
    book, _ = await shop.on_sale(client, amount=0)  # position 0: first

    items = await catalog(client, shop, ann)
    assert [p["id"] for p in items] == [book["id"], course["id"]]
    c = items[1]
    assert c["type"] == "products" and "links" not in c
    assert {k: v for k, v in c["attributes"].items() if k != "prices"} == {
        "name": "Course", "description": "Learn", "image_url": "https://cdn.example/c.png", "featured": True,
        "position": 2}  # no metadata, no staff fields
    assert c["attributes"]["prices"] == [
        {"id": once["id"], "amount": 4900, "currency": "usd", "type": "one_time", "interval": None,
         "interval_count": None, "trial_period_days": None, "nickname": "Once"},
        {"id": monthly["id"], "amount": 900, "currency": "usd", "type": "recurring", "interval": "month",
         "interval_count": 1, "trial_period_days": 7, "nickname": None}]
    assert items[0]["attributes"]["featured"] is False


async def test_what_the_catalog_leaves_out(client: Any, shop: Shop) -> None:
    ann = await shop.buyer(client)
    shown, _ = await shop.on_sale(client)
    undisplayed = await shop.product(client)
    await shop.price(client, undisplayed["id"])
    archived, _ = await shop.on_sale(client)
    await client.patch(shop.product_url(archived["id"]), json=doc("products", {"active": False}), headers=shop.wh)
    priceless = await shop.product(client)
    await shop.display(client, priceless["id"])
    only_archived_price, price = await shop.on_sale(client)
    await client.patch(shop.product_url(only_archived_price["id"], f"/prices/{price['id']}"),
                       json=doc("prices", {"active": False}), headers=shop.wh)
    deleted, _ = await shop.on_sale(client)
    await client.delete(shop.product_url(deleted["id"]), headers=shop.staff.headers)
    elsewhere = await shop.product(client)
    await shop.price(client, elsewhere["id"])
    await shop.display(client, elsewhere["id"], hub=await new_hub(client, shop.staff))

    assert [p["id"] for p in await catalog(client, shop, ann)] == [shown["id"]]
    # restored: back at once
    await client.patch(shop.product_url(archived["id"]), json=doc("products", {"active": True}), headers=shop.wh)
    await client.patch(shop.product_url(only_archived_price["id"], f"/prices/{price['id']}"),
                       json=doc("prices", {"active": True}), headers=shop.wh)
    assert [p["id"] for p in await catalog(client, shop, ann)] == [shown["id"], archived["id"],
                                                                   only_archived_price["id"]]


async def test_a_product_the_member_already_holds_is_left_out(client: Any, shop: Shop) -> None:
    ann, bob = await shop.buyer(client), await shop.buyer(client)
    membership, _ = await shop.on_sale(client)
    await shop.deliverable(client, membership["id"], "hub_access", shop.hub.id)
    space = (await client.post(f"{shop.hub.url}/spaces", json=doc("spaces", {"name": f"S {uuid.uuid4().hex[:6]}"}),
                               headers=shop.wh)).json()["data"]["id"]
    bundle, _ = await shop.on_sale(client)  # hub access and the space: both must be held
    await shop.deliverable(client, bundle["id"], "hub_access", shop.hub.id)
    await shop.deliverable(client, bundle["id"], "community_access", space)
    tagged, _ = await shop.on_sale(client)  # only a tag: always on offer
    r = await client.post(f"{shop.t}/tags", json=doc("tags", {"name": f"T {uuid.uuid4().hex[:6]}"}), headers=shop.wh)
    await shop.deliverable(client, tagged["id"], "tag", r.json()["data"]["id"])
    everything = [membership["id"], bundle["id"], tagged["id"]]
    assert [p["id"] for p in await catalog(client, shop, ann)] == everything

    async def grant(kind: str, target: str | None) -> str:
        attrs = {"contact_id": ann.contact_id, "kind": kind, **({"target_id": target} if target else {})}
        r = await client.post(f"{shop.hub.url}/entitlements", json=doc("entitlements", attrs), headers=shop.wh)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    hub_access = await grant("hub_access", shop.hub.id)
    assert [p["id"] for p in await catalog(client, shop, ann)] == [bundle["id"], tagged["id"]]
    await grant("community_access", space)
    assert [p["id"] for p in await catalog(client, shop, ann)] == [tagged["id"]]
    assert [p["id"] for p in await catalog(client, shop, bob)] == everything  # only Ann holds them

    # revoked: on offer again at once; a hub_access grant without a target counts for its hub
    r = await client.post(f"{shop.hub.url}/entitlements/{hub_access}/revoke", headers=shop.wh,
                          json=doc("entitlement_revocations", {"reason": "refund"}))
    assert r.status_code == 200, r.text
    assert [p["id"] for p in await catalog(client, shop, ann)] == everything
    await grant("hub_access", None)
    assert [p["id"] for p in await catalog(client, shop, ann)] == [tagged["id"]]


async def test_an_entitlement_that_ended_puts_the_product_back(client: Any, clock: Any, shop: Shop) -> None:
    ann = await shop.buyer(client)
    product, _ = await shop.on_sale(client)
    await shop.deliverable(client, product["id"], "hub_access", shop.hub.id)
    ends = (clock.now() + timedelta(minutes=2)).isoformat()
    r = await client.post(f"{shop.hub.url}/entitlements", headers=shop.wh, json=doc("entitlements", {
        "contact_id": ann.contact_id, "kind": "hub_access", "target_id": shop.hub.id, "ends_at": ends}))
    assert r.status_code == 201, r.text
    assert await catalog(client, shop, ann) == []
    clock.advance(minutes=2, seconds=1)
    assert [p["id"] for p in await catalog(client, shop, ann)] == [product["id"]]


async def test_the_catalog_pages_in_display_order(client: Any, shop: Shop) -> None:
    ann = await shop.buyer(client)
    made = []
    for position in (3, 1, 2, 1):
        product = await shop.product(client)
        await shop.price(client, product["id"])
        await shop.display(client, product["id"], position=position)
        made.append((position, product["id"]))
    expected = [pid for _, pid in sorted(made, key=lambda m: m[0])]  # ties: the order they were added
    r = await client.get(f"{shop.h}/catalog", params={"page[size]": 3}, headers=ann.headers)
    assert [p["id"] for p in r.json()["data"]] == expected[:3] and r.json()["meta"]["has_more"]
    r = await client.get(r.json()["links"]["next"], headers=ann.headers)
    assert [p["id"] for p in r.json()["data"]] == expected[3:] and not r.json()["meta"]["has_more"]
    assert_error(await client.get(f"{shop.h}/catalog", params={"page[after]": "bogus"}, headers=ann.headers), 422,
                 "invalid_cursor")
    assert_error(await client.get(f"{shop.h}/catalog", params={"filter[active]": "true"}, headers=ann.headers), 422,
                 "unknown_parameter")


async def test_who_may_read_the_catalog(client: Any, shop: Shop) -> None:
    ann, bob = await shop.buyer(client), await shop.buyer(client)
    product, _ = await shop.on_sale(client)
    assert_error(await client.get(f"{shop.h}/catalog", headers=shop.staff.headers), 401, "member_token_required")
    assert_error(await client.get(f"{shop.h}/catalog"), 401, "unauthenticated")
    other = await open_shop(client)
    assert_error(await client.get(f"{other.h}/catalog", headers=ann.headers), 404, "not_found")
    # a hub gated behind a purchase still shows what to buy
    r = await client.post(f"{shop.hub.url}/access-rules", headers=shop.wh, json=doc("access_rules", {
        "target_type": "hub", "target_id": shop.hub.id,
        "conditions": [{"condition_type": "has_entitlement", "condition_data": {"kind": "hub_access"}}]}))
    assert r.status_code == 201, r.text
    assert_error(await client.get(f"{shop.h}/spaces", headers=ann.headers), 403, "missing_entitlement")
    assert [p["id"] for p in await catalog(client, shop, ann)] == [product["id"]]
    # a banned member sees nothing
    r = await act(client, shop.staff.headers, shop.hub, bob.contact_id, "ban")
    assert r.status_code == 200, r.text
    assert_error(await client.get(f"{shop.h}/catalog", headers=bob.headers), 403, "banned")


async def test_sellable_price_is_the_catalogs_rule_for_one_price(client: Any, app: Any, shop: Shop) -> None:
    product, price = await shop.on_sale(client)
    archived = await shop.price(client, product["id"])
    await client.patch(shop.product_url(product["id"], f"/prices/{archived['id']}"),
                       json=doc("prices", {"active": False}), headers=shop.wh)
    undisplayed = await shop.product(client)
    hidden = await shop.price(client, undisplayed["id"])
    other_hub = await new_hub(client, shop.staff)

    async def sellable(hub_id: str, price_id: str | None) -> Any:
        async with app.state.services.uow() as uow:
            found = await sellable_price(uow, uuid.UUID(hub_id), uuid.UUID(price_id) if price_id else None)
            return None if found is None else (str(found[0].id), str(found[1].id))

    assert in_app(client, sellable, shop.hub.id, price["id"]) == (product["id"], price["id"])
    for hub_id, price_id in [(shop.hub.id, archived["id"]), (shop.hub.id, hidden["id"]),
                             (other_hub.id, price["id"]), (shop.hub.id, None), (shop.hub.id, str(uuid.uuid4()))]:
        assert in_app(client, sellable, hub_id, price_id) is None
    await client.patch(shop.product_url(product["id"]), json=doc("products", {"active": False}), headers=shop.wh)
    assert in_app(client, sellable, shop.hub.id, price["id"]) is None
