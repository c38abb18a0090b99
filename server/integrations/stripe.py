"""The one wrapper around Stripe's official SDK, ``stripe.StripeClient``.

- **API version pinned** (``API_VERSION``), so what Stripe sends us does not change shape when the
  account's default version moves. The stand-in the tests use (tests/support/stripe_standin.py)
  serves the same version.
- **Where:** ``HUBWIRE_STRIPE_API_BASE`` replaces ``https://api.stripe.com``
  (``base_addresses={"api": ...}``) when set. The tests use it to reach the stand-in.
- **Bounded:** each request times out after ``TIMEOUT_SECONDS``. Connection failures, 409s and 5xx
  are retried by the SDK at most ``MAX_NETWORK_RETRIES`` times (about 0.5 s, then 1 s, apart) with
  the same idempotency key. So a call gives up within about half a minute at worst.
- **Idempotent creates:** every create carries a key derived from our ids:
  ``order-{order_id}-session``, ``order-{order_id}-coupon``, ``refund-{refund_id}``. Asking twice
  for one order's session gets the same session back, for as long as Stripe keeps keys (24 hours).
  Updates take the caller's key, or the SDK's random one.
- **Errors in the domain's terms** (domain/commerce/providers.py):
  - unreachable, timed out, 5xx, rate limited → ``PaymentProviderUnavailable`` (503 + Retry-After);
  - a key Stripe refuses → the same, with code ``payment_provider_misconfigured`` (and logged);
  - card errors → ``PaymentRefused`` (402);
  - refused requests → ``PaymentProviderRejected`` (422), or ``PaymentProviderConflict`` (409)
    for a spent idempotency key or a charge already refunded.
- **Webhooks:** :func:`verify_webhook` checks ``Stripe-Signature`` on the raw body with the SDK's
  ``WebhookSignature`` and its default tolerance (300 s), then reads the event.

Everything is async (the SDK's ``*_async`` methods over ``stripe.HTTPXClient``), so a call never
blocks the event loop.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, NoReturn

import stripe

from domain.commerce.provider_events import ReceivedEvent
from domain.commerce.providers import (
    CheckoutRequest,
    CheckoutSession,
    PaymentProviderConflict,
    PaymentProviderRejected,
    PaymentProviderUnavailable,
    PaymentRefused,
    ProviderRefund,
    ProviderSubscription,
    RefundRequest,
)
from domain.errors import DomainError

log = logging.getLogger("hubwire.stripe")

API_VERSION = "2026-10-28.endive"  # what stripe-python 16.1 pins; pinned here so an SDK upgrade is a decision
PROVIDER = "stripe"
TIMEOUT_SECONDS = 10.0
MAX_NETWORK_RETRIES = 2
WEBHOOK_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE  # 300 seconds


class StripeProvider:
    """The Stripe implementation of ``PaymentProvider`` (domain/commerce/providers.py)."""

    name = PROVIDER

    def __init__(self, secret_key: str, *, api_base: str | None = None, timeout: float = TIMEOUT_SECONDS,
                 max_network_retries: int = MAX_NETWORK_RETRIES) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            secret_key, stripe_version=API_VERSION, base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries, http_client=self._http)

    async def aclose(self) -> None:
        await self._http.close_async()

    # ---- checkout ---------------------------------------------------------------------------------

    async def create_checkout_session(self, checkout: CheckoutRequest) -> CheckoutSession:
        params = await self._session_params(checkout)
        session = await self._call(self.client.v1.checkout.sessions.create_async(
            params=params, options={"idempotency_key": f"order-{checkout.order_id}-session"}))  # type: ignore[arg-type]
        return _session(session)

    async def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        return _session(await self._call(self.client.v1.checkout.sessions.expire_async(session_id)))

    async def _session_params(self, c: CheckoutRequest) -> dict[str, Any]:
        metadata = c.metadata()
        product: dict[str, Any] = {"name": c.product_name[:250], "metadata": {
            "hubwire_product_id": str(c.product_id), "hubwire_price_id": str(c.price_id)}}
        if c.product_description:
            product["description"] = c.product_description[:1000]
        price: dict[str, Any] = {"currency": c.currency, "unit_amount": c.unit_amount, "product_data": product}
        if c.mode == "subscription":
            if c.recurring is None:
                raise ValueError("a subscription checkout needs a recurring price")
            price["recurring"] = {"interval": c.recurring.interval, "interval_count": c.recurring.interval_count}
        params: dict[str, Any] = {
            "mode": c.mode, "line_items": [{"quantity": 1, "price_data": price}],
            "client_reference_id": str(c.order_id), "metadata": metadata, "success_url": c.success_url,
        }
        if c.cancel_url:
            params["cancel_url"] = c.cancel_url
        if c.provider_customer_id:
            params["customer"] = c.provider_customer_id
        elif c.customer_email:
            params["customer_email"] = c.customer_email
        if c.mode == "subscription":
            params["subscription_data"] = {"metadata": metadata}
            if c.trial_period_days:
                params["subscription_data"]["trial_period_days"] = c.trial_period_days
        else:
            params["payment_intent_data"] = {"metadata": metadata}  # copied onto the charge: refunds, disputes
        coupon = await self._coupon_for(c)
        if coupon is not None:
            params["discounts"] = [{"coupon": coupon}]
        return params

    async def _coupon_for(self, c: CheckoutRequest) -> str | None:
        """A Stripe coupon for this order alone, made on the fly: ``hubwire-{order_id}``. A one-time
        payment gets exactly the order's discount off. A subscription gets the coupon's own terms,
        so the renewals within its duration are discounted as well."""
        d = c.discount
        if d is None or (c.mode == "payment" and d.amount <= 0):
            return None
        coupon_id = f"hubwire-{c.order_id}"
        params: dict[str, Any] = {"id": coupon_id, "name": d.code[:40], "max_redemptions": 1,
                                  "metadata": {**c.metadata(), "hubwire_coupon_id": str(d.coupon_id)}}
        if c.mode == "payment":
            params.update(amount_off=d.amount, currency=c.currency, duration="once")
        else:
            if d.percent_off_hundredths is not None:
                params["percent_off"] = d.percent_off_hundredths / 100
            else:
                params.update(amount_off=d.amount_off, currency=d.currency or c.currency)
            params["duration"] = d.duration
            if d.duration == "repeating":
                params["duration_in_months"] = d.duration_in_months
        try:
            await self._call(self.client.v1.coupons.create_async(
                params=params, options={"idempotency_key": f"order-{c.order_id}-coupon"}))  # type: ignore[arg-type]
        except PaymentProviderRejected as exc:
            if exc.meta.get("provider_code") != "resource_already_exists":
                raise  # made by an earlier attempt whose idempotency key Stripe no longer keeps: use it
        return coupon_id

    # ---- subscriptions ----------------------------------------------------------------------------

    async def retrieve_subscription(self, subscription_id: str) -> ProviderSubscription:
        return subscription_of(await self._call(self.client.v1.subscriptions.retrieve_async(subscription_id)))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, *,
                                       idempotency_key: str | None = None) -> ProviderSubscription:
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        return subscription_of(await self._call(self.client.v1.subscriptions.update_async(
            subscription_id, params={"cancel_at_period_end": cancel}, options=options)))  # type: ignore[arg-type]

    async def cancel_subscription_now(self, subscription_id: str, *,
                                      idempotency_key: str | None = None) -> ProviderSubscription:
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        return subscription_of(await self._call(self.client.v1.subscriptions.cancel_async(
            subscription_id, options=options)))  # type: ignore[arg-type]

    # ---- refunds ----------------------------------------------------------------------------------

    async def refund(self, refund: RefundRequest) -> ProviderRefund:
        params: dict[str, Any] = {"metadata": {"hubwire_refund_id": str(refund.refund_id),
                                               "hubwire_order_id": str(refund.order_id),
                                               "hubwire_payment_id": str(refund.payment_id)}}
        if refund.payment_intent_id:
            params["payment_intent"] = refund.payment_intent_id
        elif refund.charge_id:
            params["charge"] = refund.charge_id
        else:
            raise ValueError("a refund names the payment intent or the charge")
        if refund.amount is not None:
            params["amount"] = refund.amount
        if refund.reason:
            params["metadata"]["hubwire_reason"] = refund.reason[:500]
        made = _plain(await self._call(self.client.v1.refunds.create_async(
            params=params, options={"idempotency_key": f"refund-{refund.refund_id}"})))  # type: ignore[arg-type]
        return ProviderRefund(id=made["id"], status=made.get("status") or "pending", amount=int(made["amount"]),
                              currency=made["currency"], charge_id=_id(made.get("charge")),
                              payment_intent_id=_id(made.get("payment_intent")))

    # ---- errors -----------------------------------------------------------------------------------

    async def _call(self, request: Any) -> Any:
        try:
            return await request
        except stripe.StripeError as exc:
            raise_mapped(exc)


def raise_mapped(exc: stripe.StripeError) -> NoReturn:
    """Raise the domain's error for what Stripe (or the way to it) answered."""
    code = exc.code
    meta = {"provider": PROVIDER, "provider_code": code} if code else {"provider": PROVIDER}
    param = getattr(exc, "param", None)
    if param:
        meta["provider_param"] = param
    message = exc.user_message or "Stripe refused the request."
    error: DomainError
    if isinstance(exc, stripe.RateLimitError):
        retry_after = _int(exc.headers.get("retry-after"), 10)
        error = PaymentProviderUnavailable("Stripe is rate limiting us; try again shortly.", retry_after=retry_after,
                                           provider=PROVIDER, meta=meta)
    elif isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        log.error("Stripe refused our credentials (HUBWIRE_STRIPE_SECRET_KEY): %s", exc.user_message)
        error = PaymentProviderUnavailable("Payments are not available right now.", retry_after=60,
                                           code="payment_provider_misconfigured", provider=PROVIDER, meta=meta)
    elif isinstance(exc, stripe.CardError):
        error = PaymentRefused(message, code=code or "payment_refused", provider=PROVIDER, meta=meta)
    elif isinstance(exc, stripe.IdempotencyError):
        log.error("Stripe idempotency key reused with other values: %s", exc.user_message)
        error = PaymentProviderConflict("This request was already made to Stripe with other values.",
                                        code="idempotency_conflict", provider=PROVIDER, meta=meta)
    elif isinstance(exc, stripe.InvalidRequestError):
        if code == "amount_too_large":
            error = PaymentProviderRejected(message, code="refund_amount_too_large", field="amount",
                                            provider=PROVIDER, meta=meta)
        elif code == "charge_already_refunded":
            error = PaymentProviderConflict(message, code="already_refunded", provider=PROVIDER, meta=meta)
        elif code == "resource_missing":
            error = PaymentProviderRejected(message, code="provider_resource_missing", provider=PROVIDER, meta=meta)
        else:
            error = PaymentProviderRejected(message, provider=PROVIDER, meta=meta)
    else:  # APIConnectionError (unreachable, timed out), APIError (5xx), anything else from the SDK
        log.warning("Stripe unavailable: %s: %s", type(exc).__name__, exc.user_message or exc)
        error = PaymentProviderUnavailable("Stripe cannot be reached right now; try again shortly.", retry_after=5,
                                           provider=PROVIDER, meta=meta)
    raise error from exc


# ---- webhooks --------------------------------------------------------------------------------------


class WebhookRejected(DomainError):
    """A delivery that is not a verified Stripe event (400): ``missing_signature``,
    ``invalid_signature`` (wrong, or older than the tolerance) or ``invalid_event``."""

    kind = "bad_request"
    code = "invalid_signature"
    title = "Webhook refused"


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> ReceivedEvent:
    """The event in ``payload`` once ``signature`` (the ``Stripe-Signature`` header) proves Stripe
    sent these exact bytes at most ``WEBHOOK_TOLERANCE`` seconds ago (the SDK's check)."""
    if not signature:
        raise WebhookRejected("Send the Stripe-Signature header.", code="missing_signature")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, WEBHOOK_TOLERANCE)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise WebhookRejected("The Stripe-Signature does not match this body, or is too old.") from None
    try:
        event = json.loads(text)
    except ValueError:
        raise WebhookRejected("The body is not JSON.", code="invalid_event") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookRejected("The body is not a Stripe event.", code="invalid_event")
    event_id, type_, data = event.get("id"), event.get("type"), event.get("data")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and isinstance(type_, str)
            and 0 < len(type_) <= 100 and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise WebhookRejected("The event lacks an id, a type or data.object.", code="invalid_event")
    object_id = data["object"].get("id")
    return ReceivedEvent(provider=PROVIDER, event_id=event_id, type=type_,
                         object_id=object_id[:255] if isinstance(object_id, str) else None,
                         created=_at(event.get("created")), payload=text)


# ---- Stripe objects in our terms -------------------------------------------------------------------


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)  # type: ignore[no-any-return]


def _at(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("id")
    return None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _session(obj: Any) -> CheckoutSession:
    s = _plain(obj)
    return CheckoutSession(id=s["id"], url=s.get("url"), status=s.get("status") or "open",
                           payment_status=s.get("payment_status") or "unpaid", customer_id=_id(s.get("customer")),
                           expires_at=_at(s.get("expires_at")))


def subscription_of(obj: Any) -> ProviderSubscription:
    """A Stripe subscription (an SDK object or its JSON) in our terms. Periods are read from the
    first item (current API versions), else from the subscription (older ones)."""
    s = _plain(obj)
    items = (s.get("items") or {}).get("data") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    return ProviderSubscription(
        id=s["id"], status=s.get("status") or "incomplete", customer_id=_id(s.get("customer")),
        cancel_at_period_end=bool(s.get("cancel_at_period_end")),
        current_period_start=_at(item.get("current_period_start", s.get("current_period_start"))),
        current_period_end=_at(item.get("current_period_end", s.get("current_period_end"))),
        cancel_at=_at(s.get("cancel_at")), canceled_at=_at(s.get("canceled_at")), ended_at=_at(s.get("ended_at")),
        trial_end=_at(s.get("trial_end")), created=_at(s.get("created")),
        latest_invoice_id=_id(s.get("latest_invoice")),
        metadata={str(k): str(v) for k, v in (s.get("metadata") or {}).items()},
    )


def provider_for(settings: Any) -> StripeProvider | None:
    """The Stripe provider when ``HUBWIRE_STRIPE_SECRET_KEY`` is set, else None."""
    if not settings.stripe_secret_key:
        return None
    return StripeProvider(settings.stripe_secret_key, api_base=settings.stripe_api_base)
