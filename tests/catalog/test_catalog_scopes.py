"""Who may touch the catalog: owners, admins and staff read and write it (``catalog:read|write``);
team moderators get 403 insufficient_role; an API key needs the scope (read for GET, write for
the rest), 403 insufficient_scope otherwise, and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import add_staff, assert_error, bearer, create_key, doc, w
from tests.support.catalog import Shop


def routes(shop: Shop, ids: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(method, url, body) of every team route of the catalog, reads first."""
    p, c, d, x = ids["product"], ids["coupon"], ids["display"], ids["price"]
    reads = [("GET", f"{shop.t}/products", None), ("GET", shop.product_url(p), None),
             ("GET", shop.product_url(p, "/prices"), None), ("GET", shop.product_url(p, f"/prices/{x}"), None),
             ("GET", shop.product_url(p, "/deliverables"), None),
             ("GET", f"{shop.hub.url}/products", None), ("GET", f"{shop.hub.url}/products/{d}", None),
             ("GET", f"{shop.t}/coupons", None), ("GET", f"{shop.t}/coupons/{c}", None),
             ("GET", f"{shop.t}/coupons/{c}/products", None)]
    writes = [("POST", f"{shop.t}/products", doc("products", {"name": "New"})),
              ("PATCH", shop.product_url(p), doc("products", {"name": "Renamed"})),
              ("POST", shop.product_url(p, "/prices"), doc("prices", {"amount": 1, "currency": "usd"})),
              ("PATCH", shop.product_url(p, f"/prices/{x}"), doc("prices", {"active": False})),
              ("POST", shop.product_url(p, "/deliverables"),
               doc("product_deliverables", {"type": "hub_access", "target_id": shop.hub.id})),
              ("PATCH", f"{shop.hub.url}/products/{d}", doc("hub_product_displays", {"featured": True})),
              ("POST", f"{shop.t}/coupons", doc("coupons", {"code": f"NEW{uuid.uuid4().hex[:8]}", "percent_off": 5})),
              ("PATCH", f"{shop.t}/coupons/{c}", doc("coupons", {"active": False})),
              ("PUT", f"{shop.t}/coupons/{c}/products", {"data": []}),
              ("DELETE", f"{shop.hub.url}/products/{d}", None),
              ("DELETE", shop.product_url(p, f"/prices/{x}"), None),
              ("DELETE", f"{shop.t}/coupons/{c}", None),
              ("DELETE", shop.product_url(p), None)]
    return reads + writes


async def make_ids(client: Any, shop: Shop) -> dict[str, str]:
    product, price = await shop.on_sale(client)
    display = (await shop.get(client, f"{shop.hub.url}/products"))["data"][0]
    coupon = await shop.coupon(client, product_ids=[product["id"]])
    return {"product": product["id"], "price": price["id"], "display": display["id"], "coupon": coupon["id"]}


async def snapshot(client: Any, shop: Shop) -> list[Any]:
    return [(await shop.get(client, url))["data"] for url in
            (f"{shop.t}/products", f"{shop.hub.url}/products", f"{shop.t}/coupons")]


async def test_a_team_moderator_may_not_read_or_write_the_catalog(client: Any, shop: Shop) -> None:
    ids = await make_ids(client, shop)
    moderator = await add_staff(client, shop.staff, shop.staff.team_id, "moderator")
    before = await snapshot(client, shop)
    for method, url, body in routes(shop, ids):
        r = await client.request(method, url, json=body, headers=w(moderator.headers))
        err = assert_error(r, 403, "insufficient_role")
        assert err["meta"]["required_scope"] == ("catalog:read" if method == "GET" else "catalog:write"), (method, url)
    assert await snapshot(client, shop) == before


async def test_staff_and_admins_read_and_write_the_catalog(client: Any, shop: Shop) -> None:
    for role in ("staff", "admin"):
        ids = await make_ids(client, shop)
        member = await add_staff(client, shop.staff, shop.staff.team_id, role)
        for method, url, body in routes(shop, ids):
            r = await client.request(method, url, json=body, headers=w(member.headers))
            assert r.status_code in (200, 201, 204), (role, method, url, r.text)


async def test_api_keys_need_the_catalog_scopes(client: Any, shop: Shop) -> None:
    ids = await make_ids(client, shop)
    reader = bearer((await create_key(client, shop.staff, shop.staff.team_id, ["catalog:read"]))["secret"])
    stranger = bearer((await create_key(client, shop.staff, shop.staff.team_id, ["contacts:write"]))["secret"])
    writer = bearer((await create_key(client, shop.staff, shop.staff.team_id, ["catalog:write"]))["secret"])
    before = await snapshot(client, shop)
    for method, url, body in routes(shop, ids):
        r = await client.request(method, url, json=body, headers=w(stranger))
        assert_error(r, 403, "insufficient_scope")
        r = await client.request(method, url, json=body, headers=w(reader))
        if method == "GET":
            assert r.status_code == 200, (url, r.text)
        else:
            err = assert_error(r, 403, "insufficient_scope")
            assert err["meta"]["required_scope"] == "catalog:write"
    assert await snapshot(client, shop) == before
    for method, url, body in routes(shop, ids):  # write implies read
        r = await client.request(method, url, json=body, headers=w(writer))
        assert r.status_code in (200, 201, 204), (method, url, r.text)


async def test_catalog_scopes_are_key_scopes_and_the_old_products_area_is_gone(client: Any, shop: Shop) -> None:
    r = await client.post(f"{shop.t}/api-keys", json={"name": "k", "scopes": ["products:read"]},
                          headers=shop.staff.headers)
    assert_error(r, 422, "invalid_scope", "/scopes/0")
