"""Prices, team side: one-time and recurring prices, their bounds (amounts, currencies, intervals
up to a year, trials up to 730 days, recurring only), what a PATCH may change (active, nickname,
trial) and what it never may (Stripe's rule), soft delete and 409 price_in_use once an order names
the price; every refusal changes nothing."""

from __future__ import annotations

from typing import Any

from tests.support.api import assert_error, doc
from tests.support.catalog import Shop, write_order

A = "/data/attributes/"


async def test_one_time_and_recurring_prices(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    url = shop.product_url(product["id"], "/prices")
    once = await shop.price(client, product["id"], amount=0, currency="USD", nickname="Free")
    assert {k: once["attributes"][k] for k in ("product_id", "amount", "currency", "type", "interval", "interval_count",
                                                "trial_period_days", "nickname", "active")} == {
        "product_id": product["id"], "amount": 0, "currency": "usd", "type": "one_time", "interval": None,
        "interval_count": None, "trial_period_days": None, "nickname": "Free", "active": True}
    monthly = await shop.price(client, product["id"], amount=99_999_999, currency="eur", type="recurring",
                               interval="month", trial_period_days=730)
    assert (monthly["attributes"]["interval"], monthly["attributes"]["interval_count"],
            monthly["attributes"]["trial_period_days"]) == ("month", 1, 730)
    for interval, most in (("day", 365), ("week", 52), ("month", 12), ("year", 1)):
        p = await shop.price(client, product["id"], type="recurring", interval=interval, interval_count=most,
                             currency="aud")
        assert p["attributes"]["interval_count"] == most
    assert monthly["links"]["self"] == f"{url}/{monthly['id']}"
    assert (await shop.get(client, f"{url}/{monthly['id']}"))["data"] == monthly

    r = await client.patch(f"{url}/{monthly['id']}", headers=shop.wh, json=doc("prices", {
        "active": False, "nickname": "Old monthly", "trial_period_days": 14,
        "amount": 99_999_999, "currency": "EUR", "type": "recurring", "interval": "month", "interval_count": 1}))
    assert r.status_code == 200, r.text  # what it charges may be sent back unchanged
    a = r.json()["data"]["attributes"]
    assert (a["active"], a["nickname"], a["trial_period_days"], a["amount"]) == (False, "Old monthly", 14, 99_999_999)

    assert len((await shop.get(client, url))["data"]) == 6
    assert [p["id"] for p in (await shop.get(client, f"{url}?filter[active]=false"))["data"]] == [monthly["id"]]
    assert [p["id"] for p in (await shop.get(client, f"{url}?filter[type]=one_time"))["data"]] == [once["id"]]
    assert_error(await client.get(f"{url}?filter[type]=weekly", headers=shop.staff.headers), 422, "invalid_filter")

    assert (await client.delete(f"{url}/{once['id']}", headers=shop.staff.headers)).status_code == 204
    assert_error(await client.get(f"{url}/{once['id']}", headers=shop.staff.headers), 404, "not_found")
    assert_error(await client.patch(f"{url}/{once['id']}", json=doc("prices", {"active": True}), headers=shop.wh),
                 404, "not_found")
    assert once["id"] not in [p["id"] for p in (await shop.get(client, url))["data"]]


INVALID_PRICES: list[tuple[dict[str, Any], str, str]] = [
    ({"amount": -1}, "invalid_amount", "amount"),
    ({"amount": 100_000_000}, "invalid_amount", "amount"),
    ({"amount": 10.5}, "invalid_value", "amount"),
    ({"amount": "100"}, "invalid_value", "amount"),
    ({"currency": "jpy"}, "invalid_currency", "currency"),
    ({"currency": ""}, "invalid_currency", "currency"),
    ({"type": "monthly"}, "invalid_price_type", "type"),
    ({"interval": "month"}, "interval_not_allowed", "interval"),
    ({"interval_count": 2}, "interval_not_allowed", "interval_count"),
    ({"trial_period_days": 7}, "trial_requires_recurring", "trial_period_days"),
    ({"type": "recurring"}, "invalid_interval", "interval"),
    ({"type": "recurring", "interval": "fortnight"}, "invalid_interval", "interval"),
    ({"type": "recurring", "interval": "day", "interval_count": 366}, "invalid_interval_count", "interval_count"),
    ({"type": "recurring", "interval": "week", "interval_count": 53}, "invalid_interval_count", "interval_count"),
    ({"type": "recurring", "interval": "month", "interval_count": 13}, "invalid_interval_count", "interval_count"),
    ({"type": "recurring", "interval": "year", "interval_count": 2}, "invalid_interval_count", "interval_count"),
    ({"type": "recurring", "interval": "month", "interval_count": 0}, "invalid_interval_count", "interval_count"),
    ({"type": "recurring", "interval": "month", "trial_period_days": 731}, "invalid_trial_period",
     "trial_period_days"),
    ({"type": "recurring", "interval": "month", "trial_period_days": -1}, "invalid_trial_period",
     "trial_period_days"),
    ({"nickname": "n" * 201}, "invalid_nickname", "nickname"),
    ({"product_id": "x"}, "unknown_field", "product_id"),
]


async def test_invalid_prices_are_refused_and_change_nothing(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    url = shop.product_url(product["id"], "/prices")
    kept = await shop.price(client, product["id"])
    for attrs, code, field in INVALID_PRICES:
        body = {"amount": 1000, "currency": "usd", **attrs}
        assert_error(await client.post(url, json=doc("prices", body), headers=shop.wh), 422, code, A + field)
    assert_error(await client.post(url, json=doc("prices", {"currency": "usd"}), headers=shop.wh), 422,
                 "missing_field", A + "amount")
    assert [p["id"] for p in (await shop.get(client, url))["data"]] == [kept["id"]]


async def test_what_a_price_charges_never_changes(client: Any, shop: Shop) -> None:
    product = await shop.product(client)
    url = shop.product_url(product["id"], "/prices")
    one_time = await shop.price(client, product["id"], amount=2500, currency="gbp")
    monthly = await shop.price(client, product["id"], type="recurring", interval="month")
    for price, attrs, code, field in [
        (one_time, {"amount": 2600}, "price_immutable", "amount"),
        (one_time, {"currency": "usd"}, "price_immutable", "currency"),
        (one_time, {"type": "recurring"}, "price_immutable", "type"),
        (one_time, {"interval": "month"}, "price_immutable", "interval"),
        (monthly, {"interval_count": 3}, "price_immutable", "interval_count"),
        (one_time, {"trial_period_days": 3}, "trial_requires_recurring", "trial_period_days"),
        (monthly, {"trial_period_days": 731}, "invalid_trial_period", "trial_period_days"),
        (monthly, {"nickname": "n" * 201}, "invalid_nickname", "nickname"),
        (monthly, {"active": None}, "invalid_value", "active"),
        (monthly, {"active": False, "amount": 1}, "price_immutable", "amount"),
    ]:
        err = assert_error(await client.patch(f"{url}/{price['id']}", json=doc("prices", attrs), headers=shop.wh),
                           422, code, A + field)
        if code == "price_immutable":
            assert "archive" in err["detail"]
    assert (await shop.get(client, f"{url}/{one_time['id']}"))["data"] == one_time
    assert (await shop.get(client, f"{url}/{monthly['id']}"))["data"] == monthly


async def test_a_price_with_orders_is_archived_not_deleted(client: Any, app: Any, clock: Any, shop: Shop) -> None:
    product, price = await shop.on_sale(client)
    url = shop.product_url(product["id"], f"/prices/{price['id']}")
    write_order(client, app, clock, shop, await shop.buyer(client), price)
    err = assert_error(await client.delete(url, headers=shop.staff.headers), 409, "price_in_use")
    assert "active: false" in err["detail"]
    assert (await shop.get(client, url))["data"] == price
    r = await client.patch(url, json=doc("prices", {"active": False}, id=price["id"]), headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["active"] is False


async def test_a_price_belongs_to_its_product(client: Any, shop: Shop) -> None:
    a, b = await shop.product(client), await shop.product(client)
    price = await shop.price(client, a["id"])
    assert_error(await client.get(shop.product_url(b["id"], f"/prices/{price['id']}"), headers=shop.staff.headers),
                 404, "not_found")
    assert_error(await client.delete(shop.product_url(b["id"], f"/prices/{price['id']}"), headers=shop.staff.headers),
                 404, "not_found")
    assert_error(await client.post(shop.product_url("nope", "/prices"), json=doc("prices", {"amount": 1, "currency": "usd"}),
                                   headers=shop.wh), 404, "not_found")
