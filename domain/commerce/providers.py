"""The payment provider protocol: what checkout, subscriptions and refunds ask of a provider, said in
our terms.

The domain never imports a provider's SDK. It calls a :class:`PaymentProvider`, and ``server/``
wires an implementation in: ``server/integrations/stripe.py`` for Stripe. Amounts are integers in
minor units and currencies lowercase, as in our tables. Provider ids are the provider's own strings.
Times are timezone-aware UTC.

Every create is idempotent by construction. The implementation derives its key from our ids
(``order-{order_id}-session``, ``order-{order_id}-coupon``, ``refund-{refund_id}``), so asking
twice for the same order's session gives back the same session. Updates take an optional
``idempotency_key``. Choose it from the action the caller records, such as an audit entry's id, never
from the subscription alone: turning cancel-at-period-end on, off and on again is three changes.

Failures are domain errors, and the edge decides their HTTP status (server/errors.py):

- :class:`PaymentProviderUnavailable`: the provider can't be reached, timed out, answered 5xx, is
  rate limiting us, or refuses our credentials. The caller may try again later: 503 with
  ``Retry-After``. Nothing was decided.
- :class:`PaymentRefused`: the provider declined a payment (a card error): 402 with the provider's
  code.
- :class:`PaymentProviderRejected`: the provider refused the request itself (a refund larger than
  what is left, an unknown subscription, reuse of an idempotency key with other values): 422 or 409,
  with a stable code of ours and the provider's in ``meta``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from domain.errors import DomainError

CheckoutMode = Literal["payment", "subscription"]
ORDER_METADATA_KEYS = ("hubwire_order_id", "hubwire_team_id", "hubwire_hub_id")


@dataclass(frozen=True)
class Recurring:
    """How often a recurring price bills: ``interval`` is day, week, month or year."""

    interval: str
    interval_count: int = 1


@dataclass(frozen=True)
class CheckoutDiscount:
    """The order's coupon, as the provider must apply it.

    ``amount`` is what this order takes off now (``orders.amount_discount``). One-time payments
    get exactly that. Subscriptions get the coupon's own terms (``percent_off_hundredths`` or
    ``amount_off`` + ``currency``, for ``duration`` once / repeating ``duration_in_months`` /
    forever), so that later renewals are discounted too."""

    coupon_id: uuid.UUID
    code: str
    duration: Literal["once", "repeating", "forever"]
    amount: int
    percent_off_hundredths: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration_in_months: int | None = None


@dataclass(frozen=True)
class CheckoutRequest:
    """One order to be paid at the provider's hosted checkout. The price is sent as it is in our
    catalog, so the provider needs no copy of it. ``metadata()`` ties the provider's objects (the
    session, its payment or subscription) back to the order."""

    order_id: uuid.UUID
    team_id: uuid.UUID
    hub_id: uuid.UUID
    product_id: uuid.UUID
    price_id: uuid.UUID
    mode: CheckoutMode
    product_name: str
    currency: str
    unit_amount: int
    success_url: str
    cancel_url: str | None = None
    product_description: str | None = None
    recurring: Recurring | None = None
    trial_period_days: int | None = None
    discount: CheckoutDiscount | None = None
    customer_email: str | None = None
    provider_customer_id: str | None = None

    def metadata(self) -> dict[str, str]:
        """``hubwire_order_id``, ``hubwire_team_id``, ``hubwire_hub_id``: how an event finds its
        order (domain/commerce/matching.py)."""
        return dict(zip(ORDER_METADATA_KEYS, (str(self.order_id), str(self.team_id), str(self.hub_id)), strict=True))


@dataclass(frozen=True)
class CheckoutSession:
    """The provider's hosted checkout for an order: send the payer to ``url``."""

    id: str
    url: str | None
    status: str  # open | complete | expired
    payment_status: str  # unpaid | paid | no_payment_required
    customer_id: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ProviderSubscription:
    """A subscription as the provider has it now, with Stripe's status vocabulary."""

    id: str
    status: str
    customer_id: str | None
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    trial_end: datetime | None = None
    created: datetime | None = None
    latest_invoice_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundRequest:
    """Give back ``amount`` (None: everything not refunded yet) of a payment, named by the
    provider's payment (``payment_intent_id``) or charge (``charge_id``). ``refund_id`` is our
    refund row's id, which keys the request. ``reason`` is staff's own words, kept with the refund."""

    refund_id: uuid.UUID
    order_id: uuid.UUID
    payment_id: uuid.UUID
    amount: int | None = None
    reason: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    status: str  # pending | succeeded | failed | canceled
    amount: int
    currency: str
    charge_id: str | None = None
    payment_intent_id: str | None = None


class PaymentProvider(Protocol):
    """A payment provider as the domain uses it (server/integrations/stripe.py implements it)."""

    name: str  # what ``orders.provider`` / ``payment_webhook_events.provider`` say: "stripe"

    async def create_checkout_session(self, checkout: CheckoutRequest) -> CheckoutSession:
        """Open (or, for an order already asked about, find again) the order's hosted checkout."""

    async def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Close an open checkout so it can no longer be paid (the order was canceled)."""

    async def retrieve_subscription(self, subscription_id: str) -> ProviderSubscription:
        """The subscription as the provider has it now."""

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, *,
                                       idempotency_key: str | None = None) -> ProviderSubscription:
        """``cancel=True``: end the subscription when its current period ends. ``False`` undoes that."""

    async def cancel_subscription_now(self, subscription_id: str, *,
                                      idempotency_key: str | None = None) -> ProviderSubscription:
        """End the subscription at once."""

    async def refund(self, refund: RefundRequest) -> ProviderRefund:
        """Refund all or part of a payment."""


# ---- errors ------------------------------------------------------------------------------------------


class PaymentProviderError(DomainError):
    """Base of what a provider call can raise; ``provider`` names the provider."""

    def __init__(self, detail: str | None = None, *, provider: str = "", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.provider = provider


class PaymentProviderUnavailable(PaymentProviderError):
    """Nothing was decided: the provider is unreachable or slow or failing, or refuses our
    credentials. Try again after ``retry_after`` seconds (503)."""

    kind = "unavailable"
    code = "payment_provider_unavailable"
    title = "Payment provider unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 30, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = max(1, int(retry_after))


class PaymentRefused(PaymentProviderError):
    """The provider declined the payment (402); ``code`` is the provider's (``card_declined``...)."""

    kind = "payment_required"
    code = "payment_refused"
    title = "Payment refused"


class PaymentProviderRejected(PaymentProviderError):
    """The provider refused the request (422, or 409 for a conflict): our code, the provider's in
    ``meta.provider_code``."""

    kind = "validation"
    code = "payment_provider_rejected"
    title = "Refused by the payment provider"


class PaymentProviderConflict(PaymentProviderRejected):
    kind = "conflict"
    code = "payment_provider_conflict"
    title = "Conflicts with the payment provider's state"
