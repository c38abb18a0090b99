"""Prices: how a product is sold. ``amount`` in the currency's minor units, ``one_time`` or
``recurring`` every ``interval_count`` × ``interval`` (at most a year, Stripe's limit), with an
optional free trial (recurring only).

As at Stripe, what a price charges never changes: ``amount``, ``currency``, ``type``, ``interval``
and ``interval_count`` are fixed at creation (a PATCH naming another value is 422
``price_immutable``: create a new price and archive this one). A PATCH may change ``active``,
``nickname`` and ``trial_period_days``. DELETE is a soft delete, refused with 409 ``price_in_use``
once an order names the price.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.catalog.fields import (
    MAX_NAME,
    check_amount,
    check_bool,
    check_choice,
    check_currency,
    check_int,
    optional_text,
)
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.filters import filter_choice
from domain.teams.service import TeamContext
from persistence.models import Order, Price, Product
from persistence.pagination import Page, PageRequest, paginate

PRICE_TYPES = ("one_time", "recurring")
INTERVALS = ("day", "week", "month", "year")
# Stripe: a billing period is at most one year.
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}
MAX_TRIAL_DAYS = 730
IMMUTABLE = ("amount", "currency", "type", "interval", "interval_count")


async def get_price(ctx: Ctx, team: TeamContext, product: Product, price_id: uuid.UUID | None) -> Price:
    """The product's live price, or 404."""
    price = await ctx.uow.session.get(Price, price_id) if price_id else None
    if price is None or price.product_id != product.id or price.deleted_at is not None:
        raise NotFound("Price not found.")
    return price


async def list_prices(ctx: Ctx, team: TeamContext, product: Product, page: PageRequest, *,
                      active: bool | None = None, type: str | None = None) -> Page[Price]:
    """The product's live prices in creation order, filtered by ``active`` and ``type``."""
    stmt = sa.select(Price).where(Price.product_id == product.id, Price.deleted_at.is_(None))
    if active is not None:
        stmt = stmt.where(Price.active.is_(active))
    if filter_choice(type, "type", PRICE_TYPES) is not None:
        stmt = stmt.where(Price.type == type)
    return await paginate(ctx.uow.session, stmt, Price.id, page)


async def create_price(ctx: Ctx, team: TeamContext, product: Product, fields: Mapping[str, Any]) -> Price:
    """A new price of the product. ``amount`` (0 is a free price) and ``currency`` are required;
    ``type`` defaults to ``one_time``; a ``recurring`` price needs ``interval`` (``interval_count``
    defaults to 1) and may have ``trial_period_days``; a one-time price has neither."""
    price_type = check_choice(fields.get("type", "one_time"), PRICE_TYPES, "type", code="invalid_price_type")
    amount = check_amount(fields.get("amount"))
    currency = check_currency(fields.get("currency"))
    interval = interval_count = None
    if price_type == "recurring":
        interval = check_choice(fields.get("interval"), INTERVALS, "interval", code="invalid_interval")
        count = fields.get("interval_count")
        interval_count = check_int(1 if count is None else count, "interval_count", 1, MAX_INTERVAL_COUNT[interval],
                                   code="invalid_interval_count")
    else:
        for name in ("interval", "interval_count"):
            if fields.get(name) is not None:
                raise ValidationFailed(f"A one-time price has no {name}.", code="interval_not_allowed", field=name)
    now = ctx.now()
    price = Price(
        team_id=team.team_id, product_id=product.id, amount=amount, currency=currency, type=price_type,
        interval=interval, interval_count=interval_count,
        trial_period_days=_trial(fields.get("trial_period_days"), price_type),
        nickname=optional_text(fields.get("nickname"), "nickname", MAX_NAME, code="invalid_nickname"),
        active=check_bool(fields.get("active", True), "active"), created_at=now, updated_at=now,
    )
    ctx.uow.session.add(price)
    await ctx.uow.session.flush()
    return price


async def update_price(ctx: Ctx, team: TeamContext, price: Price, changes: Mapping[str, Any]) -> Price:
    """Archive or restore (``active``), rename (``nickname``), change ``trial_period_days``.
    The fields that say what the price charges may be sent only with their current value."""
    for name in IMMUTABLE:
        if name in changes and _differs(price, name, changes[name]):
            raise ValidationFailed(f"A price's {name} never changes (Stripe's rule): create a new price and "
                                   "archive this one.", code="price_immutable", field=name)
    if "active" in changes:
        price.active = check_bool(changes["active"], "active")
    if "nickname" in changes:
        price.nickname = optional_text(changes["nickname"], "nickname", MAX_NAME, code="invalid_nickname")
    if "trial_period_days" in changes:
        price.trial_period_days = _trial(changes["trial_period_days"], price.type)
    price.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return price


async def delete_price(ctx: Ctx, team: TeamContext, price: Price) -> None:
    """Soft delete (404 afterwards); 409 ``price_in_use`` once an order names the price: archive
    it with ``active: false`` instead."""
    s = ctx.uow.session
    if await s.scalar(sa.select(sa.exists().where(Order.price_id == price.id))):
        raise Conflict("This price has orders: archive it with `active: false` instead.", code="price_in_use")
    now = ctx.now()
    price.deleted_at = now
    price.updated_at = now
    await s.flush()


def _differs(price: Price, name: str, value: Any) -> bool:
    if name == "currency" and isinstance(value, str):
        value = value.lower()  # stored lowercase, accepted in any case
    return bool(value != getattr(price, name))


def _trial(value: Any, price_type: str) -> int | None:
    if value is None:
        return None
    if price_type != "recurring":
        raise ValidationFailed("Only a recurring price has a trial.", code="trial_requires_recurring",
                               field="trial_period_days")
    return check_int(value, "trial_period_days", 0, MAX_TRIAL_DAYS, code="invalid_trial_period")
