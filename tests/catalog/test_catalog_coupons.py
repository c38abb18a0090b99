"""Coupons: percent or amount off, durations, limits, product scope (listed and set through
T/coupons/{id}/products), codes unique per team ignoring case — also when two requests create the
same code at once — the discount fixed once created, and every refusal changing nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from persistence.ids import new_id
from persistence.models import Coupon
from tests.support.api import assert_error, doc, w
from tests.support.app import db_write
from tests.support.catalog import Shop, open_shop
from tests.support.community import race

A = "/data/attributes/"
FUTURE = "2099-01-01T00:00:00Z"


async def test_coupons_are_created_read_listed_updated_and_deleted(client: Any, shop: Shop) -> None:
    course = await shop.product(client)
    pct = await shop.coupon(client, code="Spring-25", name="Spring sale", percent_off=12.5, duration="repeating",
                            duration_in_months=3, max_redemptions=100, redeem_by=FUTURE, product_ids=[course["id"]])
    a = pct["attributes"]
    assert {k: a[k] for k in a if k not in ("created_at", "updated_at")} == {
        "code": "Spring-25", "name": "Spring sale", "percent_off": 12.5, "amount_off": None, "currency": None,
        "duration": "repeating", "duration_in_months": 3, "max_redemptions": 100, "times_redeemed": 0,
        "redeem_by": "2099-01-01T00:00:00Z", "product_ids": [course["id"]], "active": True}
    off = await shop.coupon(client, code="FIVE_OFF", amount_off=500, currency="CAD", duration="forever")
    assert (off["attributes"]["percent_off"], off["attributes"]["amount_off"], off["attributes"]["currency"],
            off["attributes"]["duration"], off["attributes"]["product_ids"]) == (None, 500, "cad", "forever", [])
    full = await shop.coupon(client, code="free", percent_off=100)
    assert (full["attributes"]["percent_off"], full["attributes"]["duration"]) == (100, "once")
    assert pct["links"]["self"] == f"{shop.t}/coupons/{pct['id']}"
    assert (await shop.get(client, f"{shop.t}/coupons/{pct['id']}"))["data"] == pct

    assert [c["id"] for c in (await shop.get(client, f"{shop.t}/coupons"))["data"]] == [pct["id"], off["id"], full["id"]]
    assert [c["id"] for c in (await shop.get(client, f"{shop.t}/coupons?filter[code]=spring-25"))["data"]] == [pct["id"]]

    r = await client.patch(f"{shop.t}/coupons/{pct['id']}", headers=shop.wh, json=doc("coupons", {
        "code": "SPRING-26", "name": None, "max_redemptions": None, "redeem_by": None, "active": False,
        "product_ids": [], "percent_off": 12.5, "duration": "repeating", "duration_in_months": 3}, id=pct["id"]))
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["code"], a["name"], a["max_redemptions"], a["redeem_by"], a["active"], a["product_ids"]) == (
        "SPRING-26", None, None, None, False, [])
    assert [c["id"] for c in (await shop.get(client, f"{shop.t}/coupons?filter[active]=false"))["data"]] == [pct["id"]]

    assert (await client.delete(f"{shop.t}/coupons/{pct['id']}", headers=shop.staff.headers)).status_code == 204
    assert_error(await client.get(f"{shop.t}/coupons/{pct['id']}", headers=shop.staff.headers), 404, "not_found")
    await shop.coupon(client, code="spring-26")  # the code is free again


INVALID_COUPONS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"code": ""}, 422, "invalid_code", "code"),
    ({"code": "x" * 65}, 422, "invalid_code", "code"),
    ({"code": "TEN OFF"}, 422, "invalid_code", "code"),
    ({"code": "DIX%"}, 422, "invalid_code", "code"),
    ({"name": "n" * 201}, 422, "invalid_name", "name"),
    ({"percent_off": None}, 422, "invalid_discount", "percent_off"),
    ({"amount_off": 100, "currency": "usd"}, 422, "invalid_discount", "amount_off"),
    ({"percent_off": 0}, 422, "invalid_percent_off", "percent_off"),
    ({"percent_off": 100.01}, 422, "invalid_percent_off", "percent_off"),
    ({"percent_off": 12.345}, 422, "invalid_percent_off", "percent_off"),
    ({"percent_off": -5}, 422, "invalid_percent_off", "percent_off"),
    ({"percent_off": 10, "currency": "usd"}, 422, "currency_not_allowed", "currency"),
    ({"percent_off": None, "amount_off": 0, "currency": "usd"}, 422, "invalid_amount_off", "amount_off"),
    ({"percent_off": None, "amount_off": 100_000_000, "currency": "usd"}, 422, "invalid_amount_off", "amount_off"),
    ({"percent_off": None, "amount_off": 100}, 422, "currency_required", "currency"),
    ({"percent_off": None, "amount_off": 100, "currency": "yen"}, 422, "invalid_currency", "currency"),
    ({"duration": "weekly"}, 422, "invalid_duration", "duration"),
    ({"duration": "repeating"}, 422, "invalid_duration_in_months", "duration_in_months"),
    ({"duration": "repeating", "duration_in_months": 37}, 422, "invalid_duration_in_months", "duration_in_months"),
    ({"duration": "repeating", "duration_in_months": 0}, 422, "invalid_duration_in_months", "duration_in_months"),
    ({"duration": "once", "duration_in_months": 3}, 422, "invalid_duration_in_months", "duration_in_months"),
    ({"max_redemptions": 0}, 422, "invalid_max_redemptions", "max_redemptions"),
    ({"redeem_by": "2000-01-01T00:00:00Z"}, 422, "redeem_by_in_past", "redeem_by"),
    ({"redeem_by": "2099-01-01T00:00:00"}, 422, "invalid_datetime", "redeem_by"),
    ({"redeem_by": "soon"}, 422, "invalid_value", "redeem_by"),
    ({"product_ids": ["nope"]}, 422, "invalid_id", "product_ids/0"),
    ({"product_ids": [str(uuid.uuid4())]}, 404, "not_found", "product_ids/0"),
    ({"product_ids": [str(uuid.uuid4()) for _ in range(101)]}, 422, "too_many_products", "product_ids"),
    ({"times_redeemed": 5}, 422, "unknown_field", "times_redeemed"),
]


async def test_invalid_coupons_are_refused_and_change_nothing(client: Any, shop: Shop) -> None:
    kept = await shop.coupon(client, code="KEPT")
    for attrs, status, code, field in INVALID_COUPONS:
        body = {"code": "NEW", "percent_off": 10, **attrs}
        body = {k: v for k, v in body.items() if v is not None}
        assert_error(await client.post(f"{shop.t}/coupons", json=doc("coupons", body), headers=shop.wh), status, code,
                     A + field)
    assert (await shop.get(client, f"{shop.t}/coupons"))["data"] == [kept]


async def test_a_coupons_discount_never_changes(client: Any, shop: Shop) -> None:
    pct = await shop.coupon(client, percent_off=20)
    off = await shop.coupon(client, amount_off=300, currency="usd", duration="repeating", duration_in_months=2)
    for coupon, attrs, field in [(pct, {"percent_off": 25}, "percent_off"), (pct, {"amount_off": 100}, "amount_off"),
                                 (pct, {"currency": "usd"}, "currency"), (pct, {"duration": "forever"}, "duration"),
                                 (off, {"percent_off": 10}, "percent_off"), (off, {"amount_off": 301}, "amount_off"),
                                 (off, {"currency": "eur"}, "currency"),
                                 (off, {"duration_in_months": 3}, "duration_in_months"),
                                 (off, {"active": False, "percent_off": None, "currency": "USD", "duration": "once"},
                                  "duration")]:
        assert_error(await client.patch(f"{shop.t}/coupons/{coupon['id']}", json=doc("coupons", attrs), headers=shop.wh),
                     422, "coupon_immutable", A + field)
    for coupon, attrs, code, field in [(pct, {"code": "a b"}, "invalid_code", "code"),
                                       (pct, {"max_redemptions": 0}, "invalid_max_redemptions", "max_redemptions"),
                                       (pct, {"redeem_by": "2001-01-01T00:00:00Z"}, "redeem_by_in_past", "redeem_by"),
                                       (pct, {"product_ids": ["x"]}, "invalid_id", "product_ids/0")]:
        assert_error(await client.patch(f"{shop.t}/coupons/{coupon['id']}", json=doc("coupons", attrs), headers=shop.wh),
                     422, code, A + field)
    assert (await shop.get(client, f"{shop.t}/coupons/{pct['id']}"))["data"] == pct
    assert (await shop.get(client, f"{shop.t}/coupons/{off['id']}"))["data"] == off


async def test_max_redemptions_never_drops_below_times_redeemed(client: Any, app: Any, shop: Shop) -> None:
    coupon = await shop.coupon(client, max_redemptions=10)
    db_write(client, app, sa.update(Coupon).where(Coupon.id == uuid.UUID(coupon["id"])).values(times_redeemed=4))
    url = f"{shop.t}/coupons/{coupon['id']}"
    assert_error(await client.patch(url, json=doc("coupons", {"max_redemptions": 3}), headers=shop.wh), 422,
                 "invalid_max_redemptions", A + "max_redemptions")
    r = await client.patch(url, json=doc("coupons", {"max_redemptions": 4}), headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["times_redeemed"] == 4


async def test_codes_are_unique_per_team_whatever_their_case(client: Any, shop: Shop) -> None:
    spring = await shop.coupon(client, code="Spring")
    other = await shop.coupon(client, code="Autumn")
    for code in ("spring", "SPRING", "sPrInG"):
        assert_error(await client.post(f"{shop.t}/coupons", json=doc("coupons", {"code": code, "percent_off": 5}),
                                       headers=shop.wh), 409, "duplicate_code", A + "code")
    assert_error(await client.patch(f"{shop.t}/coupons/{other['id']}", json=doc("coupons", {"code": "SPRING"}),
                                    headers=shop.wh), 409, "duplicate_code", A + "code")
    r = await client.patch(f"{shop.t}/coupons/{spring['id']}", json=doc("coupons", {"code": "SPRING"}), headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["code"] == "SPRING"  # its own code, recased
    assert (await shop.get(client, f"{shop.t}/coupons/{other['id']}"))["data"] == other
    # another team may use the same code
    elsewhere = await open_shop(client)
    await elsewhere.coupon(client, code="spring")


async def test_two_requests_creating_the_same_code_at_once_make_one_coupon(client: Any, app: Any, clock: Any,
                                                                           shop: Shop) -> None:
    # The holder writes the code first (uncommitted): both requests pass the lookup and wait on the
    # unique index; the holder steps back, one request inserts, the other loses on the index.
    now = clock.now()
    hold = sa.insert(Coupon).values(id=new_id(), team_id=uuid.UUID(shop.staff.team_id), code="held", code_key="launch",
                                    percent_off_hundredths=100, duration="once", times_redeemed=0, active=True,
                                    created_at=now, updated_at=now)
    url = f"{shop.t}/coupons"
    responses = race(client, app, hold,
                     ("POST", url, w(shop.staff.headers), doc("coupons", {"code": "Launch", "percent_off": 10})),
                     ("POST", url, w(shop.staff.headers), doc("coupons", {"code": "LAUNCH", "percent_off": 20})))
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert_error(next(r for r in responses if r.status_code == 409), 409, "duplicate_code", A + "code")
    found = (await shop.get(client, f"{url}?filter[code]=launch"))["data"]
    assert len(found) == 1 and found[0]["id"] == next(r for r in responses if r.status_code == 201).json()["data"]["id"]


async def test_the_products_a_coupon_applies_to(client: Any, shop: Shop) -> None:
    a, b, c = await shop.product(client), await shop.product(client), await shop.product(client)
    coupon = await shop.coupon(client, product_ids=[b["id"], a["id"], a["id"]])
    assert coupon["attributes"]["product_ids"] == [a["id"], b["id"]]  # once each, in creation order
    url = f"{shop.t}/coupons/{coupon['id']}/products"
    assert [p["id"] for p in (await shop.get(client, url))["data"]] == [a["id"], b["id"]]

    r = await client.put(url, json={"data": [{"type": "products", "id": c["id"]}]}, headers=shop.wh)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["product_ids"] == [c["id"]]
    assert [p["id"] for p in (await shop.get(client, url))["data"]] == [c["id"]]

    other = await open_shop(client)
    foreign = await other.product(client)
    for body, status, code, pointer in [
        ({"data": [{"type": "products", "id": a["id"]}, {"type": "products", "id": foreign["id"]}]}, 404, "not_found",
         "/data/1/id"),
        ({"data": [{"type": "products", "id": "nope"}]}, 422, "invalid_id", "/data/0/id"),
        ({"data": [{"type": "coupons", "id": a["id"]}]}, 422, "invalid_value", "/data/0/type"),
        ({"data": [{"type": "products"}]}, 422, "missing_field", "/data/0/id"),
        ({"data": [{"type": "products", "id": str(uuid.uuid4())}] * 101}, 422, "too_many_products", "/data"),
    ]:
        assert_error(await client.put(url, json=body, headers=shop.wh), status, code, pointer)
    assert_error(await client.post(f"{shop.t}/coupons", json=doc("coupons", {"code": "X1", "percent_off": 5,
                                                                            "product_ids": [foreign["id"]]}),
                                   headers=shop.wh), 404, "not_found", A + "product_ids/0")
    assert [p["id"] for p in (await shop.get(client, url))["data"]] == [c["id"]]

    # a deleted product leaves the listing, not the scope: the coupon never widens to every product
    assert (await client.delete(shop.product_url(c["id"]), headers=shop.staff.headers)).status_code == 204
    assert (await shop.get(client, url))["data"] == []
    assert (await shop.get(client, f"{shop.t}/coupons/{coupon['id']}"))["data"]["attributes"]["product_ids"] == [c["id"]]

    r = await client.put(url, json={"data": []}, headers=shop.wh)  # every product
    assert r.status_code == 200 and r.json()["data"]["attributes"]["product_ids"] == []
    # another team reaches neither the coupon nor its products
    for method, path in [("GET", f"{shop.t}/coupons/{coupon['id']}"), ("GET", url),
                         ("GET", f"{other.t}/coupons/{coupon['id']}"), ("GET", f"{other.t}/coupons/{coupon['id']}/products"),
                         ("DELETE", f"{other.t}/coupons/{coupon['id']}")]:
        assert_error(await client.request(method, path, headers=other.staff.headers), 404, "not_found")
    assert_error(await client.put(f"{other.t}/coupons/{coupon['id']}/products", json={"data": []}, headers=other.wh),
                 404, "not_found")


async def test_redeem_by_must_be_ahead_of_the_servers_clock(client: Any, clock: Any, shop: Shop) -> None:
    soon = (clock.now() + timedelta(minutes=5)).isoformat()
    coupon = await shop.coupon(client, redeem_by=soon)
    clock.advance(minutes=6)  # within the staff token's life
    assert_error(await client.post(f"{shop.t}/coupons", json=doc("coupons", {"code": "LATE", "percent_off": 5,
                                                                            "redeem_by": soon}), headers=shop.wh),
                 422, "redeem_by_in_past", A + "redeem_by")
    assert_error(await client.patch(f"{shop.t}/coupons/{coupon['id']}", json=doc("coupons", {"redeem_by": soon}),
                                    headers=shop.wh), 422, "redeem_by_in_past", A + "redeem_by")
