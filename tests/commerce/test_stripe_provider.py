"""Our Stripe wrapper (server/integrations/stripe.py) against the stand-in, over real HTTP, through the
official SDK: Checkout Sessions for an order (payment and subscription mode, coupons made on the fly),
the same order getting the same session (idempotency keys derived from our ids), subscriptions and
refunds, and every failure in the domain's terms, down to the HTTP answer the edge gives."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import stripe
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from domain.commerce.providers import (
    CheckoutDiscount,
    CheckoutRequest,
    PaymentProviderConflict,
    PaymentProviderRejected,
    PaymentProviderUnavailable,
    PaymentRefused,
    Recurring,
    RefundRequest,
)
from persistence.ids import new_id
from server.errors import EXCEPTION_HANDLERS, edge
from server.integrations.stripe import API_VERSION, StripeProvider, provider_for
from server.settings import Settings, SettingsError
from tests.support.api import assert_error
from tests.support.payments import SECRET_KEY, StripeStandin
from tests.support.servers import free_port


def checkout(**overrides: Any) -> CheckoutRequest:
    values: dict[str, Any] = dict(
        order_id=new_id(), team_id=new_id(), hub_id=new_id(), product_id=new_id(), price_id=new_id(),
        mode="payment", product_name="Founding membership", currency="usd", unit_amount=5000,
        success_url="https://creator.example/thanks?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://creator.example/hub", customer_email="buyer@example.test",
    )
    values.update(overrides)
    return CheckoutRequest(**values)


def monthly(**overrides: Any) -> CheckoutRequest:
    return checkout(mode="subscription", unit_amount=1500, recurring=Recurring("month", 1), **overrides)


def requests_with_key(standin: StripeStandin, key: str) -> list[dict[str, Any]]:
    return [r for r in standin.requests() if r["idempotency_key"] == key]


def stored(standin: StripeStandin, object_path: str) -> dict[str, Any]:
    r = standin.http.get(f"/v1/{object_path}", headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---- checkout sessions ------------------------------------------------------------------------------


async def test_the_api_version_is_pinned_and_sent(provider: StripeProvider, standin: StripeStandin):
    # Ours equals the SDK's: an SDK upgrade that moves it fails here, so moving it is a decision.
    assert API_VERSION == stripe._api_version._ApiVersion.CURRENT  # type: ignore[attr-defined]
    c = checkout()
    await provider.create_checkout_session(c)
    [request] = requests_with_key(standin, f"order-{c.order_id}-session")
    assert request["stripe_version"] == API_VERSION and request["path"] == "/v1/checkout/sessions"


async def test_a_payment_session_carries_the_order(provider: StripeProvider, standin: StripeStandin):
    c = checkout(product_description="A year of the hub")
    session = await provider.create_checkout_session(c)
    assert session.id.startswith("cs_") and session.url and session.status == "open"
    assert session.payment_status == "unpaid" and session.expires_at is not None
    s = stored(standin, f"checkout/sessions/{session.id}")
    assert s["mode"] == "payment" and s["amount_total"] == 5000 and s["currency"] == "usd"
    assert s["client_reference_id"] == str(c.order_id)
    assert s["metadata"] == {"hubwire_order_id": str(c.order_id), "hubwire_team_id": str(c.team_id),
                             "hubwire_hub_id": str(c.hub_id)}
    assert s["customer_email"] == "buyer@example.test" and s["success_url"] == c.success_url
    done = standin.complete(session.id)
    pi = stored(standin, f"payment_intents/{done['payment_intent']}")
    charge = stored(standin, f"charges/{pi['latest_charge']}")
    assert pi["metadata"] == charge["metadata"] == s["metadata"]  # refunds and disputes find the order


async def test_the_same_order_gets_the_same_session(provider: StripeProvider, standin: StripeStandin):
    c = checkout()
    first = await provider.create_checkout_session(c)
    again = await provider.create_checkout_session(c)
    assert again.id == first.id and again.url == first.url
    sent = requests_with_key(standin, f"order-{c.order_id}-session")
    assert [r["replayed"] for r in sent] == [False, True]


async def test_the_same_order_with_other_values_is_a_conflict(provider: StripeProvider):
    c = checkout()
    await provider.create_checkout_session(c)
    with pytest.raises(PaymentProviderConflict) as caught:
        await provider.create_checkout_session(checkout(order_id=c.order_id, team_id=c.team_id, hub_id=c.hub_id,
                                                        product_id=c.product_id, price_id=c.price_id,
                                                        unit_amount=9900))
    assert caught.value.code == "idempotency_conflict" and caught.value.kind == "conflict"


async def test_a_payment_discount_takes_off_exactly_the_orders_amount(provider: StripeProvider,
                                                                      standin: StripeStandin):
    c = checkout(discount=CheckoutDiscount(coupon_id=new_id(), code="SPRING25", duration="forever", amount=1250,
                                           percent_off_hundredths=2500))
    session = await provider.create_checkout_session(c)
    s = stored(standin, f"checkout/sessions/{session.id}")
    assert s["amount_subtotal"] == 5000 and s["amount_total"] == 3750
    coupon = stored(standin, f"coupons/hubwire-{c.order_id}")
    assert coupon["amount_off"] == 1250 and coupon["duration"] == "once" and coupon["max_redemptions"] == 1
    assert s["discounts"] == [{"coupon": coupon["id"], "promotion_code": None}]
    assert requests_with_key(standin, f"order-{c.order_id}-coupon")


async def test_a_subscription_session_with_a_trial_and_a_repeating_coupon(provider: StripeProvider,
                                                                          standin: StripeStandin):
    c = monthly(trial_period_days=14, discount=CheckoutDiscount(
        coupon_id=new_id(), code="FIRST3", duration="repeating", duration_in_months=3, amount=375,
        percent_off_hundredths=2500))
    session = await provider.create_checkout_session(c)
    coupon = stored(standin, f"coupons/hubwire-{c.order_id}")
    assert coupon["percent_off"] == 25.0 and coupon["duration"] == "repeating" and coupon["duration_in_months"] == 3
    done = standin.complete(session.id)
    assert done["status"] == "complete" and done["payment_status"] == "no_payment_required"  # the trial
    sub = await provider.retrieve_subscription(done["subscription"])
    assert sub.status == "trialing" and sub.metadata == c.metadata() and not sub.cancel_at_period_end
    assert sub.current_period_start is not None and sub.current_period_end is not None
    assert (sub.current_period_end - sub.current_period_start).days == 14 and sub.trial_end == sub.current_period_end


async def test_subscriptions_cancel_at_period_end_resume_and_cancel_now(provider: StripeProvider,
                                                                        standin: StripeStandin):
    session = await provider.create_checkout_session(monthly())
    sub_id = standin.complete(session.id)["subscription"]
    ending = await provider.set_cancel_at_period_end(sub_id, True, idempotency_key=f"audit-{uuid.uuid4()}")
    assert ending.status == "active" and ending.cancel_at_period_end and ending.cancel_at == ending.current_period_end
    resumed = await provider.set_cancel_at_period_end(sub_id, False, idempotency_key=f"audit-{uuid.uuid4()}")
    assert not resumed.cancel_at_period_end and resumed.cancel_at is None
    ended = await provider.cancel_subscription_now(sub_id)
    assert ended.status == "canceled" and ended.ended_at is not None and ended.canceled_at is not None
    with pytest.raises(PaymentProviderRejected):  # a canceled subscription is done
        await provider.set_cancel_at_period_end(sub_id, True)


async def test_an_unknown_subscription_is_rejected(provider: StripeProvider):
    with pytest.raises(PaymentProviderRejected) as caught:
        await provider.retrieve_subscription("sub_nope")
    assert caught.value.code == "provider_resource_missing" and caught.value.meta["provider_code"] == "resource_missing"


# ---- refunds --------------------------------------------------------------------------------------


async def test_refunds_partial_then_the_rest_then_nothing_is_left(provider: StripeProvider, standin: StripeStandin):
    c = checkout()
    paid = standin.complete((await provider.create_checkout_session(c)).id)
    pi = paid["payment_intent"]

    def refund(amount: int | None, refund_id: uuid.UUID | None = None) -> RefundRequest:
        return RefundRequest(refund_id=refund_id or new_id(), order_id=c.order_id, payment_id=new_id(), amount=amount,
                             reason="asked nicely", payment_intent_id=pi)

    first = refund(1000)
    part = await provider.refund(first)
    assert part.status == "succeeded" and part.amount == 1000 and part.payment_intent_id == pi and part.charge_id
    assert (await provider.refund(first)).id == part.id  # the same refund of ours is made once
    with pytest.raises(PaymentProviderRejected) as too_much:
        await provider.refund(refund(999_999))
    assert too_much.value.code == "refund_amount_too_large" and too_much.value.field == ("amount",)
    rest = await provider.refund(refund(None))
    assert rest.amount == 4000
    charge = stored(standin, f"charges/{part.charge_id}")
    assert charge["amount_refunded"] == 5000 and charge["refunded"] is True
    with pytest.raises(PaymentProviderConflict) as nothing_left:
        await provider.refund(refund(None))
    assert nothing_left.value.code == "already_refunded"
    assert stored(standin, f"refunds/{part.id}")["metadata"]["hubwire_reason"] == "asked nicely"


# ---- failures --------------------------------------------------------------------------------------


async def test_a_5xx_is_retried_with_the_same_key(provider: StripeProvider, standin: StripeStandin):
    c = checkout()
    standin.fail_next(status=500, path="/v1/checkout/sessions")
    session = await provider.create_checkout_session(c)
    sent = requests_with_key(standin, f"order-{c.order_id}-session")
    assert [r["status"] for r in sent] == [500, 200]
    assert (await provider.create_checkout_session(c)).id == session.id


@pytest.mark.parametrize("fault", [{"status": 500, "count": 3}, {"status": 503, "count": 3}, {"drop": True, "count": 3},
                                   {"status": 429}])
async def test_a_provider_that_cannot_answer_is_unavailable(provider: StripeProvider, standin: StripeStandin,
                                                            fault: dict[str, Any]):
    standin.fail_next(path="/v1/checkout/sessions", **fault)
    with pytest.raises(PaymentProviderUnavailable) as caught:
        await provider.create_checkout_session(checkout())
    assert caught.value.code == "payment_provider_unavailable" and caught.value.retry_after >= 1


async def test_a_slow_provider_times_out_as_unavailable(standin: StripeStandin):
    slow = StripeProvider(SECRET_KEY, api_base=standin.base, timeout=0.3, max_network_retries=0)
    standin.fail_next(delay=1.5, path="/v1/subscriptions/")
    try:
        with pytest.raises(PaymentProviderUnavailable):
            await slow.retrieve_subscription("sub_slow")
    finally:
        await slow.aclose()


async def test_a_standin_that_is_down_is_unavailable_within_the_bounds():
    down = StripeProvider(SECRET_KEY, api_base=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    try:
        with pytest.raises(PaymentProviderUnavailable) as caught:
            await down.create_checkout_session(checkout())
    finally:
        await down.aclose()
    assert caught.value.retry_after == 5
    assert time.monotonic() - started < 10  # two retries, about 0.5 s then 1 s apart


async def test_a_key_stripe_refuses_is_a_misconfiguration(standin: StripeStandin):
    wrong = StripeProvider("sk_live_not_for_the_standin", api_base=standin.base)
    try:
        with pytest.raises(PaymentProviderUnavailable) as caught:
            await wrong.retrieve_subscription("sub_x")
    finally:
        await wrong.aclose()
    assert caught.value.code == "payment_provider_misconfigured"


async def test_a_declined_card_is_payment_refused(provider: StripeProvider, standin: StripeStandin):
    standin.fail_next(status=402, path="/v1/checkout/sessions")
    with pytest.raises(PaymentRefused) as caught:
        await provider.create_checkout_session(checkout())
    assert caught.value.code == "card_declined" and caught.value.kind == "payment_required"


async def test_the_edge_answers_provider_errors_with_their_status():
    @get("/unavailable")
    async def unavailable() -> None:
        raise PaymentProviderUnavailable("Stripe cannot be reached right now.", retry_after=7)

    @get("/refused")
    async def refused() -> None:
        raise PaymentRefused("Your card was declined.", code="card_declined")

    @get("/rejected")
    async def rejected() -> None:
        raise PaymentProviderRejected("Too much.", code="refund_amount_too_large", field="amount")

    app = Litestar(route_handlers=[unavailable, refused, rejected], exception_handlers=EXCEPTION_HANDLERS)
    app.asgi_handler = edge(app.asgi_handler)
    async with AsyncTestClient(app) as c:
        r = await c.get("/unavailable")
        assert_error(r, 503, "payment_provider_unavailable")
        assert r.headers["retry-after"] == "7"
        assert_error(await c.get("/refused"), 402, "card_declined")
        assert_error(await c.get("/rejected"), 422, "refund_amount_too_large", pointer="/amount")


# ---- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("HUBWIRE_STRIPE_SECRET_KEY", "pk_test_publishable"), ("HUBWIRE_STRIPE_SECRET_KEY", "sk_"),
    ("HUBWIRE_STRIPE_WEBHOOK_SECRET", "not-a-whsec"), ("HUBWIRE_STRIPE_API_BASE", "ftp://stripe.example"),
    ("HUBWIRE_STRIPE_API_BASE", "https://api.stripe.com?x=1"), ("HUBWIRE_STRIPE_API_BASE", "localhost:12111"),
    ("HUBWIRE_STRIPE_API_BASE", "http://127.0.0.1:notaport"),
])
def test_stripe_settings_are_checked(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), name: value})


def test_stripe_settings_turn_the_provider_on(tmp_path):
    off = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path)})
    assert off.stripe_secret_key is None and provider_for(off) is None
    on = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_STRIPE_SECRET_KEY": "rk_test_restricted",
                            "HUBWIRE_STRIPE_WEBHOOK_SECRET": "whsec_abc", "HUBWIRE_STRIPE_API_BASE": "http://127.0.0.1:12111/"})
    assert on.stripe_api_base == "http://127.0.0.1:12111" and on.stripe_webhook_secret == "whsec_abc"
    assert isinstance(provider_for(on), StripeProvider)
