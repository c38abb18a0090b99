"""Products, team side: create, read, list (filter[active], pages), update, archive, soft delete
(404 afterwards; 409 product_in_use once an order names one of its prices); every invalid field
refused with its code and pointer, changing nothing; another team's product is 404."""

from __future__ import annotations

from typing import Any

from tests.support.api import assert_error, doc
from tests.support.catalog import Shop, open_shop, write_order

A = "/data/attributes/"


async def test_products_are_created_read_listed_updated_and_archived(client: Any, shop: Shop) -> None:
    course = await shop.product(client, name="  Course  ", description="Learn", image_url="https://cdn.example/c.png",
                                metadata={"sku": "C-1", "seats": 30, "beta": True, "ratio": 0.5})
    a = course["attributes"]
    assert (a["name"], a["description"], a["image_url"], a["active"]) == ("Course", "Learn", "https://cdn.example/c.png",
                                                                         True)
    assert a["metadata"] == {"sku": "C-1", "seats": 30, "beta": True, "ratio": 0.5}
    assert course["links"]["self"] == shop.product_url(course["id"])
    plain = await shop.product(client, name="Plain")
    assert (plain["attributes"]["description"], plain["attributes"]["image_url"], plain["attributes"]["metadata"]) == (
        None, None, {})

    assert (await shop.get(client, shop.product_url(course["id"])))["data"] == course
    r = await client.get(f"{shop.t}/products", params={"page[size]": 1}, headers=shop.staff.headers)
    assert [p["id"] for p in r.json()["data"]] == [course["id"]] and r.json()["meta"]["has_more"]
    r = await client.get(r.json()["links"]["next"], headers=shop.staff.headers)
    assert [p["id"] for p in r.json()["data"]] == [plain["id"]] and not r.json()["meta"]["has_more"]

    r = await client.patch(shop.product_url(course["id"]), headers=shop.wh, json=doc(
        "products", {"active": False, "description": None, "metadata": {"sku": "C-2"}}, id=course["id"]))
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["active"], a["description"], a["metadata"], a["name"]) == (False, None, {"sku": "C-2"}, "Course")
    active = (await shop.get(client, f"{shop.t}/products?filter[active]=true"))["data"]
    archived = (await shop.get(client, f"{shop.t}/products?filter[active]=false"))["data"]
    assert ([p["id"] for p in active], [p["id"] for p in archived]) == ([plain["id"]], [course["id"]])
    assert_error(await client.get(f"{shop.t}/products?filter[active]=maybe", headers=shop.staff.headers), 422,
                 "invalid_filter")
    assert_error(await client.get(f"{shop.t}/products?filter[name]=x", headers=shop.staff.headers), 422,
                 "unknown_filter")


async def test_a_product_is_soft_deleted_and_its_prices_and_displays_go_with_it(client: Any, shop: Shop) -> None:
    product, price = await shop.on_sale(client)
    assert (await client.delete(shop.product_url(product["id"]), headers=shop.staff.headers)).status_code == 204
    for url in (shop.product_url(product["id"]), shop.product_url(product["id"], f"/prices/{price['id']}"),
                shop.product_url(product["id"], "/prices")):
        assert_error(await client.get(url, headers=shop.staff.headers), 404, "not_found")
    assert_error(await client.delete(shop.product_url(product["id"]), headers=shop.staff.headers), 404, "not_found")
    assert (await shop.get(client, f"{shop.t}/products"))["data"] == []
    assert (await shop.get(client, f"{shop.hub.url}/products"))["data"] == []


async def test_a_product_with_orders_is_never_deleted(client: Any, app: Any, clock: Any, shop: Shop) -> None:
    product, price = await shop.on_sale(client)
    other = await shop.price(client, product["id"], amount=9900)
    write_order(client, app, clock, shop, await shop.buyer(client), price)
    err = assert_error(await client.delete(shop.product_url(product["id"]), headers=shop.staff.headers), 409,
                       "product_in_use")
    assert "active: false" in err["detail"]
    assert (await shop.get(client, shop.product_url(product["id"])))["data"] == product
    # the price without orders may go; the one with orders may not
    assert (await client.delete(shop.product_url(product["id"], f"/prices/{other['id']}"),
                                headers=shop.staff.headers)).status_code == 204
    assert_error(await client.delete(shop.product_url(product["id"], f"/prices/{price['id']}"),
                                     headers=shop.staff.headers), 409, "price_in_use")
    r = await client.patch(shop.product_url(product["id"]), json=doc("products", {"active": False}), headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["active"] is False


INVALID_PRODUCTS: list[tuple[dict[str, Any], int, str, str]] = [
    ({}, 422, "missing_field", A + "name"),
    ({"name": "   "}, 422, "invalid_name", A + "name"),
    ({"name": "x" * 201}, 422, "invalid_name", A + "name"),
    ({"name": "x", "description": "d" * 5001}, 422, "invalid_description", A + "description"),
    ({"name": "x", "image_url": "ftp://cdn.example/a.png"}, 422, "invalid_image_url", A + "image_url"),
    ({"name": "x", "image_url": "javascript:alert(1)"}, 422, "invalid_image_url", A + "image_url"),
    ({"name": "x", "image_url": "https://"}, 422, "invalid_image_url", A + "image_url"),
    ({"name": "x", "image_url": "https://a.example/" + "p" * 2000}, 422, "invalid_image_url", A + "image_url"),
    ({"name": "x", "image_url": "https://a.example/a b.png"}, 422, "invalid_image_url", A + "image_url"),
    ({"name": "x", "metadata": {"nested": {"a": 1}}}, 422, "invalid_metadata", A + "metadata/nested"),
    ({"name": "x", "metadata": {"list": [1]}}, 422, "invalid_metadata", A + "metadata/list"),
    ({"name": "x", "metadata": {"none": None}}, 422, "invalid_metadata", A + "metadata/none"),
    ({"name": "x", "metadata": {"k" * 41: "v"}}, 422, "invalid_metadata", A + "metadata/" + "k" * 41),
    ({"name": "x", "metadata": {"long": "v" * 501}}, 422, "invalid_metadata", A + "metadata/long"),
    ({"name": "x", "metadata": {f"k{i}": i for i in range(51)}}, 422, "invalid_metadata", A + "metadata"),
    ({"name": "x", "metadata": []}, 422, "invalid_value", A + "metadata"),
    ({"name": "x", "active": "yes"}, 422, "invalid_value", A + "active"),
    ({"name": "x", "price": 100}, 422, "unknown_field", A + "price"),
]


async def test_invalid_products_are_refused_and_change_nothing(client: Any, shop: Shop) -> None:
    existing = await shop.product(client, name="Kept", metadata={"a": "b"})
    for attrs, status, code, pointer in INVALID_PRODUCTS:
        assert_error(await client.post(f"{shop.t}/products", json=doc("products", attrs), headers=shop.wh),
                     status, code, pointer)
        if "name" in attrs and "price" not in attrs:  # the same rules on PATCH
            assert_error(await client.patch(shop.product_url(existing["id"]), json=doc("products", attrs),
                                            headers=shop.wh), status, code, pointer)
    assert_error(await client.patch(shop.product_url(existing["id"]), json=doc("products", {"metadata": None}),
                                    headers=shop.wh), 422, "invalid_value", A + "metadata")
    assert_error(await client.patch(shop.product_url(existing["id"]), json=doc("products", {"name": "y"},
                                                                                id=shop.hub.id),
                                    headers=shop.wh), 409, "id_mismatch", "/data/id")
    assert [p["id"] for p in (await shop.get(client, f"{shop.t}/products"))["data"]] == [existing["id"]]
    assert (await shop.get(client, shop.product_url(existing["id"])))["data"] == existing


async def test_another_teams_product_is_not_found(client: Any, shop: Shop) -> None:
    product, price = await shop.on_sale(client)
    other = await open_shop(client)
    for method, url in [("GET", shop.product_url(product["id"])), ("DELETE", shop.product_url(product["id"])),
                        ("GET", shop.product_url(product["id"], "/prices")),
                        ("GET", shop.product_url(product["id"], "/deliverables")),
                        ("GET", other.product_url(product["id"])),
                        ("GET", other.product_url(product["id"], f"/prices/{price['id']}")),
                        ("GET", other.product_url("not-an-id"))]:
        assert_error(await client.request(method, url, headers=other.staff.headers), 404, "not_found")
    r = await client.patch(other.product_url(product["id"]), json=doc("products", {"name": "Mine"}), headers=other.wh)
    assert_error(r, 404, "not_found")
    assert (await shop.get(client, shop.product_url(product["id"])))["data"] == product
