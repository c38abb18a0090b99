"""The Stripe stand-in itself (tests/support/stripe_standin.py), since the flows' tests stand on it:
each payer action and each turn of time emits the events Stripe would, in order, delivered over
HTTP and signed so that the SDK's own check accepts them. Deliveries can be held, reordered and
repeated, also all at once. Errors keep Stripe's envelope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from domain.commerce.providers import CheckoutDiscount, CheckoutRequest, Recurring, RefundRequest
from persistence.ids import new_id
from server.integrations.stripe import StripeProvider
from tests.support.payments import SECRET_KEY, StripeStandin, WebhookReceiver


@pytest.fixture
def receiver(standin: StripeStandin) -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    standin.flush()
    standin.webhooks(hooks.url)
    yield hooks
    standin.no_webhooks()
    hooks.stop()


def order(mode: str = "payment", **overrides: Any) -> CheckoutRequest:
    values: dict[str, Any] = dict(
        order_id=new_id(), team_id=new_id(), hub_id=new_id(), product_id=new_id(), price_id=new_id(), mode=mode,
        product_name="Membership", currency="eur", unit_amount=4000, success_url="https://creator.example/ok",
        customer_email="payer@example.test")
    if mode == "subscription":
        values["recurring"] = Recurring("month", 3)
    values.update(overrides)
    return CheckoutRequest(**values)


def arrived(standin: StripeStandin, hooks: WebhookReceiver) -> list[dict[str, Any]]:
    """What was delivered since the last look; each delivery passed the SDK's signature check."""
    standin.flush()
    events = hooks.take()
    assert hooks.refused == []
    for e in events:
        assert isinstance(stripe.Event.construct_from(json.loads(e["raw"]), SECRET_KEY), stripe.Event)
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_a_paid_checkout_emits_stripes_events_in_order(provider: StripeProvider, standin: StripeStandin,
                                                             receiver: WebhookReceiver):
    c = order()
    session = await provider.create_checkout_session(c)
    standin.complete(session.id)
    events = arrived(standin, receiver)
    assert types(events) == ["customer.created", "charge.succeeded", "payment_intent.succeeded",
                             "checkout.session.completed"]
    done = events[-1]
    assert done["api_version"] == "2026-10-28.endive" and done["request"] == {"id": None, "idempotency_key": None}
    s = done["data"]["object"]
    assert (s["status"], s["payment_status"], s["amount_total"]) == ("complete", "paid", 4000)
    assert s["metadata"]["hubwire_order_id"] == str(c.order_id) and s["payment_intent"].startswith("pi_")
    assert events[1]["data"]["object"]["metadata"] == c.metadata()  # the charge carries the order


async def test_async_payments_settle_later(provider: StripeProvider, standin: StripeStandin,
                                           receiver: WebhookReceiver):
    for result in ("succeeded", "failed"):
        session = await provider.create_checkout_session(order())
        standin.complete(session.id, "async")
        first = arrived(standin, receiver)
        assert types(first) == ["customer.created", "payment_intent.processing", "checkout.session.completed"]
        assert first[-1]["data"]["object"]["payment_status"] == "unpaid"
        standin.settle(session.id, result)
        later = arrived(standin, receiver)
        if result == "succeeded":
            assert types(later) == ["charge.succeeded", "payment_intent.succeeded",
                                    "checkout.session.async_payment_succeeded"]
            assert later[-1]["data"]["object"]["payment_status"] == "paid"
        else:
            assert types(later) == ["charge.failed", "payment_intent.payment_failed",
                                    "checkout.session.async_payment_failed"]


async def test_nothing_due_completes_without_payment(provider: StripeProvider, standin: StripeStandin,
                                                     receiver: WebhookReceiver):
    c = order(discount=CheckoutDiscount(coupon_id=new_id(), code="FREE", duration="once", amount=4000,
                                        percent_off_hundredths=10000))
    standin.complete((await provider.create_checkout_session(c)).id)
    events = arrived(standin, receiver)
    assert types(events) == ["customer.created", "checkout.session.completed"]
    s = events[-1]["data"]["object"]
    assert (s["payment_status"], s["amount_total"], s["payment_intent"]) == ("no_payment_required", 0, None)


async def test_a_declined_card_keeps_the_session_open(provider: StripeProvider, standin: StripeStandin,
                                                      receiver: WebhookReceiver):
    session = await provider.create_checkout_session(order())
    assert standin.complete(session.id, "declined")["status"] == "open"
    assert arrived(standin, receiver) == []
    expired = await provider.expire_checkout_session(session.id)
    assert expired.status == "expired"
    assert types(arrived(standin, receiver)) == ["checkout.session.expired"]


async def test_a_subscription_renews_fails_recovers_and_ends_at_period_end(
        provider: StripeProvider, standin: StripeStandin, receiver: WebhookReceiver):
    c = order("subscription")
    sub_id = standin.complete((await provider.create_checkout_session(c)).id)["subscription"]
    assert types(arrived(standin, receiver)) == [
        "customer.created", "customer.subscription.created", "invoice.created", "invoice.finalized",
        "charge.succeeded", "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded",
        "checkout.session.completed"]
    start = await provider.retrieve_subscription(sub_id)
    assert start.status == "active" and start.metadata == c.metadata()

    standin.advance(sub_id)
    renewed = arrived(standin, receiver)
    assert types(renewed) == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                              "charge.succeeded", "payment_intent.succeeded", "invoice.paid",
                              "invoice.payment_succeeded"]
    moved = renewed[0]["data"]
    item = moved["object"]["items"]["data"][0]
    assert item["current_period_start"] == int(start.current_period_end.timestamp())  # type: ignore[union-attr]
    assert moved["previous_attributes"]["items"]["data"][0]["current_period_end"] == item["current_period_start"]
    invoice = renewed[-2]["data"]["object"]
    assert invoice["billing_reason"] == "subscription_cycle" and invoice["amount_paid"] == 4000
    assert invoice["parent"]["subscription_details"] == {"subscription": sub_id, "metadata": c.metadata()}

    standin.advance(sub_id, fail=True)
    failed = arrived(standin, receiver)
    assert types(failed) == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                             "charge.failed", "payment_intent.payment_failed", "invoice.payment_failed",
                             "customer.subscription.updated"]
    assert failed[-1]["data"]["object"]["status"] == "past_due"
    assert failed[-1]["data"]["previous_attributes"] == {"status": "active"}
    open_invoice = failed[-2]["data"]["object"]
    standin.control("POST", f"/invoices/{open_invoice['id']}/pay")
    recovered = arrived(standin, receiver)
    assert types(recovered)[-1] == "customer.subscription.updated"
    assert recovered[-1]["data"]["object"]["status"] == "active"

    ending = await provider.set_cancel_at_period_end(sub_id, True)
    assert types(arrived(standin, receiver)) == ["customer.subscription.updated"]
    clock_before = standin.control("GET", "/clock")["now"]
    standin.advance(sub_id)
    [deleted] = arrived(standin, receiver)
    assert deleted["type"] == "customer.subscription.deleted"
    s = deleted["data"]["object"]
    assert s["status"] == "canceled" and s["ended_at"] == int(ending.current_period_end.timestamp())  # type: ignore[union-attr]
    assert standin.control("GET", "/clock")["now"] >= s["ended_at"] > clock_before  # time reached the end


async def test_a_trial_ends_with_the_first_payment(provider: StripeProvider, standin: StripeStandin,
                                                   receiver: WebhookReceiver):
    sub_id = standin.complete((await provider.create_checkout_session(order("subscription", trial_period_days=7))).id
                              )["subscription"]
    created = arrived(standin, receiver)
    assert [e["data"]["object"]["amount_paid"] for e in created if e["type"] == "invoice.paid"] == [0]
    standin.control("POST", f"/subscriptions/{sub_id}/trial_will_end")
    assert types(arrived(standin, receiver)) == ["customer.subscription.trial_will_end"]
    standin.advance(sub_id)
    after = arrived(standin, receiver)
    assert after[0]["data"]["object"]["status"] == "active"
    assert after[0]["data"]["previous_attributes"]["status"] == "trialing"


async def test_refunds_and_disputes_emit_their_events(provider: StripeProvider, standin: StripeStandin,
                                                      receiver: WebhookReceiver):
    c = order()
    pi = standin.complete((await provider.create_checkout_session(c)).id)["payment_intent"]
    arrived(standin, receiver)
    await provider.refund(RefundRequest(refund_id=new_id(), order_id=c.order_id, payment_id=new_id(), amount=1500,
                                        payment_intent_id=pi))
    refund_events = arrived(standin, receiver)
    assert types(refund_events) == ["refund.created", "charge.refunded"]
    charge = refund_events[1]["data"]
    assert charge["object"]["amount_refunded"] == 1500 and charge["object"]["refunded"] is False
    assert charge["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    dispute = standin.dispute(charge["object"]["id"])
    assert types(arrived(standin, receiver)) == ["charge.dispute.created"]
    standin.close_dispute(dispute["id"], "lost")
    [closed] = arrived(standin, receiver)
    assert closed["type"] == "charge.dispute.closed" and closed["data"]["object"]["status"] == "lost"

    pi2 = standin.complete((await provider.create_checkout_session(order())).id)["payment_intent"]
    arrived(standin, receiver)
    won = standin.dispute(standin.http.get(f"/v1/payment_intents/{pi2}", headers={
        "Authorization": f"Bearer {SECRET_KEY}"}).json()["latest_charge"])
    arrived(standin, receiver)
    standin.close_dispute(won["id"], "won")
    assert types(arrived(standin, receiver)) == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]


async def test_deliveries_can_be_held_reordered_and_repeated_at_once(provider: StripeProvider,
                                                                     standin: StripeStandin,
                                                                     receiver: WebhookReceiver):
    standin.control("POST", "/webhooks/hold")
    standin.complete((await provider.create_checkout_session(order())).id)
    held = standin.control("GET", "/webhooks/held")["data"]
    assert [e["type"] for e in held] == ["customer.created", "charge.succeeded", "payment_intent.succeeded",
                                         "checkout.session.completed"]
    assert arrived(standin, receiver) == []
    delivered = standin.release(order="reverse")
    assert [d["status"] for d in delivered] == [200] * 4
    assert types(receiver.take()) == ["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded",
                                      "customer.created"]
    copies = standin.deliver(held[-1]["id"], times=3, concurrent=True)
    assert [c["status"] for c in copies] == [200, 200, 200]
    again = receiver.take()
    assert len(again) == 3 and len({e["raw"] for e in again}) == 1  # the same bytes each time


def test_errors_keep_stripes_envelope(standin: StripeStandin):
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    cases = [
        (httpx.post(f"{standin.base}/v1/checkout/sessions", data={"mode": "payment", "colour": "blue"}, headers=auth),
         400, "parameter_unknown", "colour"),
        (httpx.post(f"{standin.base}/v1/checkout/sessions", data={"mode": "payment"}, headers=auth),
         400, "parameter_missing", "success_url"),
        (httpx.get(f"{standin.base}/v1/subscriptions/sub_nope", headers=auth), 404, "resource_missing", "id"),
        (httpx.get(f"{standin.base}/v1/plans", headers=auth), 404, None, None),
        (httpx.get(f"{standin.base}/v1/subscriptions/sub_nope"), 401, None, None),
    ]
    for r, status, code, param in cases:
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert error.get("code") == code and error.get("param") == param
