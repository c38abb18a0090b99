"""Which order an event is about (domain/commerce/matching.py), for each object Stripe sends: by the
metadata checkout puts everywhere, by a session's client_reference_id, by an invoice's
subscription metadata, and by the provider ids stored once an order is paid. An order of another
provider, or an id that is not ours, matches nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from domain.commerce.matching import order_for_event, order_id_in
from persistence.ids import new_id
from persistence.models import Order, Payment, Subscription
from tests.support.payments import order_rows


async def match(sessions: Any, obj: dict[str, Any], provider: str = "stripe") -> Order | None:
    async with sessions() as s:
        return await order_for_event(s, provider, obj)


@pytest.fixture
async def order(sessions: Any) -> Order:
    rows, order = order_rows(recurring=True)
    order.provider_session_id = f"cs_test_{order.id.hex}"
    order.provider_payment_intent_id = f"pi_test_{order.id.hex}"
    now = datetime.now(timezone.utc)
    subscription = Subscription(
        id=new_id(), team_id=order.team_id, hub_id=order.hub_id, contact_id=order.contact_id, order_id=order.id,
        product_id=order.product_id, price_id=order.price_id, provider="stripe",
        provider_subscription_id=f"sub_test_{order.id.hex}", status="active", cancel_at_period_end=False,
        created_at=now, updated_at=now)
    payment = Payment(
        id=new_id(), team_id=order.team_id, hub_id=order.hub_id, order_id=order.id, contact_id=order.contact_id,
        provider="stripe", provider_payment_id=f"pi_test_renewal_{order.id.hex}",
        provider_charge_id=f"ch_test_{order.id.hex}", amount=5000, currency="usd", amount_refunded=0,
        status="succeeded", created_at=now, updated_at=now)
    async with sessions() as s, s.begin():
        for row in [*rows, subscription, payment]:
            s.add(row)
            await s.flush()
    return order


def objects(o: Order) -> dict[str, dict[str, Any]]:
    h = o.id.hex
    return {
        "session by metadata": {"id": "cs_other", "object": "checkout.session",
                                "metadata": {"hubwire_order_id": str(o.id)}},
        "session by client_reference_id": {"id": "cs_other", "object": "checkout.session",
                                           "client_reference_id": str(o.id), "metadata": {}},
        "session by its id": {"id": f"cs_test_{h}", "object": "checkout.session", "metadata": {}},
        "subscription by metadata": {"id": "sub_other", "object": "subscription",
                                     "metadata": {"hubwire_order_id": str(o.id)}},
        "subscription by its id": {"id": f"sub_test_{h}", "object": "subscription", "metadata": {}},
        "invoice by its subscription's metadata": {
            "id": "in_1", "object": "invoice", "metadata": {},
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": "sub_other", "metadata": {"hubwire_order_id": str(o.id)}}}},
        "invoice by its subscription": {
            "id": "in_2", "object": "invoice",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": f"sub_test_{h}"}}},
        "invoice of an older API version": {"id": "in_3", "object": "invoice", "subscription": f"sub_test_{h}"},
        "charge by metadata": {"id": "ch_other", "object": "charge", "metadata": {"hubwire_order_id": str(o.id)}},
        "charge by its id": {"id": f"ch_test_{h}", "object": "charge", "metadata": {}},
        "charge by the order's payment intent": {"id": "ch_x", "object": "charge", "payment_intent": f"pi_test_{h}"},
        "charge by a renewal's payment intent": {"id": "ch_y", "object": "charge",
                                                 "payment_intent": f"pi_test_renewal_{h}"},
        "dispute by its charge": {"id": "dp_1", "object": "dispute", "charge": f"ch_test_{h}"},
        "dispute by an expanded charge": {"id": "dp_2", "object": "dispute", "charge": {"id": f"ch_test_{h}"}},
        "refund by its charge": {"id": "re_1", "object": "refund", "charge": f"ch_test_{h}"},
    }


@pytest.mark.parametrize("case", list(objects(Order(id=new_id()))))
async def test_an_event_object_finds_its_order(sessions, order, case):
    found = await match(sessions, objects(order)[case])
    assert found is not None and found.id == order.id


async def test_what_names_no_order_of_ours_matches_nothing(sessions, order):
    assert await match(sessions, {"id": "cus_1", "object": "customer", "metadata": {}}) is None
    assert await match(sessions, {"id": "cs_1", "object": "checkout.session",
                                  "metadata": {"hubwire_order_id": "not-an-id"}, "client_reference_id": "42"}) is None
    assert await match(sessions, {"id": "ch_1", "object": "charge",
                                  "metadata": {"hubwire_order_id": str(new_id())}}) is None
    assert await match(sessions, {"id": "sub_1", "object": "subscription", "metadata": {"hubwire_order_id": 7}}) is None


async def test_an_order_of_another_provider_is_not_matched(sessions):
    rows, manual = order_rows(provider="manual")
    async with sessions() as s, s.begin():
        for row in rows:
            s.add(row)
            await s.flush()
    obj = {"id": "cs_1", "object": "checkout.session", "metadata": {"hubwire_order_id": str(manual.id)}}
    assert order_id_in(obj) == manual.id
    assert await match(sessions, obj) is None
    assert (await match(sessions, obj, provider="manual")).id == manual.id  # type: ignore[union-attr]
