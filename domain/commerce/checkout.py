"""Checkout, ``H/checkout``: one price bought by a member (their token) or a guest (an ``email``,
which finds or creates the contact), in one hub.

The hub must sell the price (``domain/catalog/storefront.py`` ``sellable_price``: displayed in the
hub, price and product live and active). A coupon code is matched case-insensitively among the
team's coupons and refused with its own 422 code: ``coupon_not_found`` (unknown or inactive),
``coupon_expired`` (past ``redeem_by``), ``coupon_used_up`` (``max_redemptions`` reached),
``coupon_not_applicable`` (scoped to other products), ``coupon_currency_mismatch`` (an amount off
in another currency). A redemption is counted by one conditional UPDATE (``times_redeemed + 1``
only while below ``max_redemptions``), so concurrent checkouts never redeem a coupon more often
than allowed; the order's ``coupon_redemptions`` row is released when it fails or expires.

Then, by the amount due and the team's ``payment_provider``:

- nothing to pay (a free price, a 100 %-off coupon on a one-time price, or forever on a recurring
  one) → provider ``free``: paid at once (``payment_status`` ``no_payment_required``), delivered;
- ``manual`` (the default) → ``pending`` until staff marks it paid (bank transfer, invoice);
- ``stripe`` → a Stripe Checkout Session through the provider (idempotency key
  ``order-{order id}-session``), whose ``url`` the payer is sent to; the webhook completes it.

A guest may check out at most ``GUEST_CHECKOUTS`` times an hour per email and hub (429).
``order.created`` (and ``order.paid`` for a free one) leave on ``team:{id}`` after commit. Any
refusal, including the provider's, rolls back everything: no order, no redemption.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from domain.catalog.fields import check_id
from domain.catalog.storefront import sellable_price
from domain.commerce.audit import BillingActor
from domain.commerce.orders import emit_order_event, mark_order_paid
from domain.commerce.providers import (
    CheckoutDiscount,
    CheckoutRequest,
    PaymentProvider,
    PaymentProviderUnavailable,
    Recurring,
)
from domain.context import Ctx
from domain.crm.contacts import ensure_contact, ensure_team_contact
from domain.errors import NotFound, RateLimited, ValidationFailed
from domain.identity.members import MemberPrincipal
from domain.identity.validation import normalize_email
from domain.members.login import MAX_REDIRECT_URL, origin_of
from persistence.models import Contact, Coupon, CouponProduct, CouponRedemption, Hub, Order, Price, Product, Team

MAX_CODE = 64
# A guest names any email: at most this many checkouts per email and hub per hour (429 after), so
# nobody fills a team's CRM or mailbox through someone else's address.
GUEST_CHECKOUTS, GUEST_WINDOW = 10, 3600


async def start_checkout(ctx: Ctx, hub_id: uuid.UUID, member: MemberPrincipal | None, fields: Mapping[str, Any], *,
                         stripe: PaymentProvider | None) -> Order:
    """Buy ``fields["price_id"]`` in the hub (see the module's docstring); returns the order
    (``session_url`` set for Stripe)."""
    s, now = ctx.uow.session, ctx.now()
    hub = await s.get(Hub, hub_id)
    if hub is None or hub.deleted_at is not None:
        raise NotFound("Hub not found.")
    price_id = check_id(fields.get("price_id"), "price_id")
    price = await s.get(Price, price_id)
    if price is None or price.team_id != hub.team_id or price.deleted_at is not None:
        raise NotFound("No price of this hub's team has this id.", field="price_id")
    sellable = await sellable_price(ctx.uow, hub.id, price_id)
    if sellable is None:
        raise ValidationFailed("This price is not on sale in this hub (archived, or not displayed here).",
                               code="price_not_available", field="price_id")
    product, price = sellable
    success_url = _url(fields.get("success_url"), "success_url", hub)
    cancel_url = _url(fields.get("cancel_url"), "cancel_url", hub)
    contact_id, email = await _buyer(ctx, hub, member, fields.get("email"))
    team = await s.get(Team, hub.team_id)
    assert team is not None

    coupon = await _coupon(ctx, hub, product, price, fields.get("coupon_code"))
    discount = _discount(coupon, price.amount)
    total = price.amount - discount
    # Nothing due now and nothing later either (Stripe still collects a card for a recurring price
    # whose coupon runs out, so that one goes through Stripe).
    free = total == 0 and (price.type == "one_time" or price.amount == 0 or team.payment_provider != "stripe"
                           or (coupon is not None and coupon.duration == "forever"))
    provider = "free" if free else team.payment_provider
    if provider == "stripe" and stripe is None:
        raise PaymentProviderUnavailable("This team sells through Stripe, which is not configured on this server.",
                                         code="payment_provider_not_configured", provider="stripe")
    if provider == "stripe" and success_url is None:
        raise ValidationFailed("A Stripe checkout needs a success_url to send the payer back to.",
                               code="success_url_required", field="success_url")

    order = Order(team_id=hub.team_id, hub_id=hub.id, contact_id=contact_id, product_id=product.id, price_id=price.id,
                  coupon_id=coupon.id if coupon else None, coupon_code=coupon.code if coupon else None,
                  provider=provider, status="pending", payment_status="unpaid", currency=price.currency,
                  amount_subtotal=price.amount, amount_discount=discount, amount_total=total, amount_refunded=0,
                  success_url=success_url, cancel_url=cancel_url, created_at=now, updated_at=now)
    s.add(order)
    await s.flush()
    if coupon is not None:
        await _redeem(ctx, coupon, order)
    emit_order_event(ctx, order, "order.created", amount=0)
    actor = BillingActor.member(contact_id) if member is not None else BillingActor.system()
    if provider == "free":
        await mark_order_paid(ctx, order, actor=actor)
    elif provider == "stripe":
        assert stripe is not None and success_url is not None
        session = await stripe.create_checkout_session(CheckoutRequest(
            order_id=order.id, team_id=order.team_id, hub_id=order.hub_id, product_id=product.id, price_id=price.id,
            mode="subscription" if price.type == "recurring" else "payment", product_name=product.name,
            currency=price.currency, unit_amount=price.amount, success_url=success_url, cancel_url=cancel_url,
            product_description=product.description,
            recurring=Recurring(price.interval or "month", price.interval_count or 1)
            if price.type == "recurring" else None,
            trial_period_days=price.trial_period_days, discount=_provider_discount(coupon, discount),
            customer_email=email))
        order.provider_session_id, order.session_url = session.id, session.url
        order.provider_customer_id = session.customer_id
        order.updated_at = ctx.now()
        await s.flush()
    return order


async def _buyer(ctx: Ctx, hub: Hub, member: MemberPrincipal | None, email: Any) -> tuple[uuid.UUID, str]:
    """(contact id, email): the member's own contact, or the guest's found or created by email."""
    s = ctx.uow.session
    if member is not None:
        if member.hub_id != hub.id:
            raise NotFound("Hub not found.")
        contact = await s.get(Contact, member.contact_id)
        assert contact is not None
        return contact.id, contact.email
    if email is None:
        raise ValidationFailed("A guest checkout needs an email (or send a member token).", code="email_required",
                               field="email")
    if not isinstance(email, str):
        raise ValidationFailed("email must be an email address.", code="invalid_email", field="email")
    email = normalize_email(email)
    verdict = await ctx.limiter.hit(f"checkout:guest:{hub.id}:{email}", GUEST_CHECKOUTS, GUEST_WINDOW)
    if not verdict.allowed:
        raise RateLimited(f"At most {GUEST_CHECKOUTS} guest checkouts per email per hour; try again later.",
                          retry_after=verdict.retry_after, meta={"limit": GUEST_CHECKOUTS, "window": GUEST_WINDOW})
    contact = await ensure_contact(ctx.uow, ctx.now(), email)
    await ensure_team_contact(ctx.uow, ctx.now(), hub.team_id, contact, source="checkout")
    return contact.id, contact.email


def _url(value: Any, field: str, hub: Hub) -> str | None:
    """An absolute http(s) URL on one of the hub's allowed redirect origins (the payer is sent
    there: never an open redirect)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REDIRECT_URL or origin_of(value) is None:
        raise ValidationFailed(f"{field} must be an absolute http(s) URL.", code="invalid_url", field=field)
    parts = urlsplit(value.strip())
    if parts.username or parts.password:
        raise ValidationFailed(f"{field} may not carry credentials.", code="invalid_url", field=field)
    allowed = {o for o in (origin_of(x) for x in (hub.allowed_redirect_origins or [])) if o}
    if origin_of(value) not in allowed:
        raise ValidationFailed(f"{field}'s origin is not among the hub's allowed_redirect_origins.",
                               code="redirect_not_allowed", field=field)
    return value.strip()


async def _coupon(ctx: Ctx, hub: Hub, product: Product, price: Price, code: Any) -> Coupon | None:
    if code is None:
        return None
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= MAX_CODE:
        raise ValidationFailed("coupon_code is 1 to 64 characters.", code="invalid_coupon_code", field="coupon_code")
    s = ctx.uow.session
    coupon = await s.scalar(sa.select(Coupon).where(Coupon.team_id == hub.team_id,
                                                    Coupon.code_key == code.strip().lower()))
    if coupon is None or not coupon.active:
        raise ValidationFailed("No coupon has this code.", code="coupon_not_found", field="coupon_code")
    if coupon.redeem_by is not None and coupon.redeem_by <= ctx.now():
        raise ValidationFailed("This coupon has expired.", code="coupon_expired", field="coupon_code")
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        raise _used_up()
    scoped = list(await s.scalars(sa.select(CouponProduct.product_id).where(CouponProduct.coupon_id == coupon.id)))
    if scoped and product.id not in scoped:
        raise ValidationFailed("This coupon is for other products.", code="coupon_not_applicable",
                               field="coupon_code")
    if coupon.amount_off is not None and coupon.currency != price.currency:
        raise ValidationFailed(f"This coupon takes an amount off in {coupon.currency}, not {price.currency}.",
                               code="coupon_currency_mismatch", field="coupon_code")
    return coupon


def _used_up() -> ValidationFailed:
    return ValidationFailed("This coupon has been used as many times as it may be.", code="coupon_used_up",
                            field="coupon_code")


async def _redeem(ctx: Ctx, coupon: Coupon, order: Order) -> None:
    """Count one use, atomically: the UPDATE only matches while below ``max_redemptions`` (PostgreSQL
    re-checks the condition on the row version it waited for), so concurrent checkouts can't
    overshoot; the loser's whole checkout is refused and rolled back."""
    s = ctx.uow.session
    hit = (await s.execute(
        sa.update(Coupon).where(Coupon.id == coupon.id, sa.or_(Coupon.max_redemptions.is_(None),
                                                               Coupon.times_redeemed < Coupon.max_redemptions))
        .values(times_redeemed=Coupon.times_redeemed + 1).returning(Coupon.id)
        .execution_options(synchronize_session=False))).first()
    if hit is None:
        raise _used_up()
    s.add(CouponRedemption(team_id=order.team_id, coupon_id=coupon.id, order_id=order.id,
                           contact_id=order.contact_id, created_at=ctx.now()))
    await s.flush()


def _discount(coupon: Coupon | None, amount: int) -> int:
    """What the coupon takes off ``amount`` now: a percentage rounded half up, or an amount off
    (never more than the amount)."""
    if coupon is None:
        return 0
    if coupon.percent_off_hundredths is not None:
        return min(amount, (amount * coupon.percent_off_hundredths + 5000) // 10000)
    return min(amount, coupon.amount_off or 0)


def _provider_discount(coupon: Coupon | None, amount: int) -> CheckoutDiscount | None:
    if coupon is None or amount == 0:
        return None
    return CheckoutDiscount(coupon_id=coupon.id, code=coupon.code, duration=coupon.duration,  # type: ignore[arg-type]
                            amount=amount, percent_off_hundredths=coupon.percent_off_hundredths,
                            amount_off=coupon.amount_off, currency=coupon.currency,
                            duration_in_months=coupon.duration_in_months)
