"""A team's catalog driven over the API (the catalog tests): a staff user with a hub, products,
prices, deliverables, displays and coupons, members of the hub with tokens, and an order row
written straight to the database (checkout is another context's)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from persistence.models import Order
from tests.support.api import bearer, doc, register, unique_email
from tests.support.app import db_write
from tests.support.hubs import Hub, StaffHub, add, mint, new_hub


@dataclass
class Buyer:
    contact_id: str
    headers: dict[str, str]


@dataclass
class Shop(StaffHub):
    def product_url(self, product_id: str, suffix: str = "") -> str:
        return f"{self.t}/products/{product_id}{suffix}"

    async def product(self, client: Any, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("name", f"Product {uuid.uuid4().hex[:6]}")
        r = await client.post(f"{self.t}/products", json=doc("products", attrs), headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def price(self, client: Any, product_id: str, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("amount", 1500)
        attrs.setdefault("currency", "usd")
        r = await client.post(self.product_url(product_id, "/prices"), json=doc("prices", attrs), headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def deliverable(self, client: Any, product_id: str, type: str, target_id: str) -> dict[str, Any]:
        r = await client.post(self.product_url(product_id, "/deliverables"),
                              json=doc("product_deliverables", {"type": type, "target_id": target_id}), headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def display(self, client: Any, product_id: str, hub: Hub | None = None, **attrs: Any) -> dict[str, Any]:
        hub = hub or self.hub
        r = await client.post(f"{hub.url}/products", json=doc("hub_product_displays", {"product_id": product_id, **attrs}),
                              headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def coupon(self, client: Any, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("code", f"SAVE{uuid.uuid4().hex[:6]}")
        if "amount_off" not in attrs:
            attrs.setdefault("percent_off", 10)
        r = await client.post(f"{self.t}/coupons", json=doc("coupons", attrs), headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def on_sale(self, client: Any, **price: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A product displayed in the hub with one price: (product, price)."""
        product = await self.product(client)
        p = await self.price(client, product["id"], **price)
        await self.display(client, product["id"])
        return product, p

    async def buyer(self, client: Any) -> Buyer:
        r = await add(client, self.staff.headers, self.hub, email=unique_email("buyer"))
        assert r.status_code in (200, 201), r.text
        contact_id = r.json()["data"]["attributes"]["contact_id"]
        t = await mint(client, self.staff.headers, self.hub, contact_id)
        assert t.status_code == 201, t.text
        return Buyer(contact_id, bearer(t.json()["data"]["attributes"]["access_token"]))

    async def get(self, client: Any, url: str) -> dict[str, Any]:
        r = await client.get(url, headers=self.staff.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())


async def open_shop(client: Any) -> Shop:
    staff = await register(client, "seller")
    return Shop(staff, await new_hub(client, staff))


def write_order(client: Any, app: Any, clock: Any, shop: Shop, buyer: Buyer, price: dict[str, Any]) -> str:
    """An order of ``price`` by ``buyer``, written to the database as checkout would (pending,
    manual provider)."""
    now = clock.now()
    a = price["attributes"]
    order = Order(team_id=uuid.UUID(shop.staff.team_id), hub_id=uuid.UUID(shop.hub.id),
                  contact_id=uuid.UUID(buyer.contact_id), product_id=uuid.UUID(a["product_id"]),
                  price_id=uuid.UUID(price["id"]), provider="manual", status="pending", payment_status="unpaid",
                  currency=a["currency"], amount_subtotal=a["amount"], amount_discount=0, amount_total=a["amount"],
                  amount_refunded=0, created_at=now, updated_at=now)
    db_write(client, app, order)
    return str(order.id)
