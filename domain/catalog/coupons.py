"""Coupons, with Stripe's names: ``percent_off`` (at most two decimals, stored in hundredths) or
``amount_off`` in a ``currency``; applied ``once``, ``repeating`` for ``duration_in_months``, or
``forever``; at most ``max_redemptions`` times, until ``redeem_by``; for the products listed in
``product_ids`` (none: every product of the team).

Codes are matched case-insensitively and unique per team, also under concurrent creation (409
``duplicate_code``, held by the unique ``(team_id, code_key)``). As at Stripe, the discount itself
(``percent_off``, ``amount_off``, ``currency``, ``duration``, ``duration_in_months``) never changes
once created (422 ``coupon_immutable``); the code, name, limits, products and ``active`` may.
``times_redeemed`` is counted by checkout, read-only here. DELETE removes the coupon; orders keep
the code they were bought with.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.catalog.fields import (
    MAX_NAME,
    check_amount,
    check_bool,
    check_choice,
    check_currency,
    check_future,
    check_id,
    check_int,
    optional_text,
)
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import Coupon, CouponProduct, Product
from persistence.pagination import Page, PageRequest, paginate

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DURATIONS = ("once", "repeating", "forever")
MAX_DURATION_MONTHS = 36
MAX_REDEMPTIONS = 1_000_000_000
MAX_PRODUCTS = 100
TERMS = ("percent_off", "amount_off", "currency", "duration", "duration_in_months")


@dataclass(frozen=True)
class CouponView:
    """A coupon and the ids of the products it is scoped to, in the products' creation order."""

    coupon: Coupon
    product_ids: list[uuid.UUID]

    @property
    def percent_off(self) -> float | None:
        hundredths = self.coupon.percent_off_hundredths
        return None if hundredths is None else hundredths / 100


async def get_coupon(ctx: Ctx, team: TeamContext, coupon_id: uuid.UUID | None) -> CouponView:
    coupon = await find_coupon(ctx, team, coupon_id)
    return CouponView(coupon, (await _product_ids(ctx.uow, [coupon.id]))[coupon.id])


async def find_coupon(ctx: Ctx, team: TeamContext, coupon_id: uuid.UUID | None) -> Coupon:
    """The team's coupon, or 404."""
    coupon = await ctx.uow.session.get(Coupon, coupon_id) if coupon_id else None
    if coupon is None or coupon.team_id != team.team_id:
        raise NotFound("Coupon not found.")
    return coupon


async def list_coupons(ctx: Ctx, team: TeamContext, page: PageRequest, *, active: bool | None = None,
                       code: str | None = None) -> Page[CouponView]:
    """The team's coupons in creation order; ``code`` finds one whatever its case."""
    stmt = sa.select(Coupon).where(Coupon.team_id == team.team_id)
    if active is not None:
        stmt = stmt.where(Coupon.active.is_(active))
    if code is not None:
        stmt = stmt.where(Coupon.code_key == code.strip().lower())
    found = await paginate(ctx.uow.session, stmt, Coupon.id, page)
    ids = await _product_ids(ctx.uow, [c.id for c in found.items])
    return Page([CouponView(c, ids[c.id]) for c in found.items], found.has_more, found.next_cursor)


async def create_coupon(ctx: Ctx, team: TeamContext, fields: Mapping[str, Any]) -> CouponView:
    """A new coupon (see the module's docstring for the rules)."""
    code = _check_code(fields.get("code"))
    hundredths, amount_off, currency = _discount(fields)
    duration = check_choice(fields.get("duration", "once"), DURATIONS, "duration", code="invalid_duration")
    months = fields.get("duration_in_months")
    if duration == "repeating":
        months = check_int(months, "duration_in_months", 1, MAX_DURATION_MONTHS, code="invalid_duration_in_months")
    elif months is not None:
        raise ValidationFailed("duration_in_months goes with the `repeating` duration only.",
                               code="invalid_duration_in_months", field="duration_in_months")
    now = ctx.now()
    coupon = Coupon(
        team_id=team.team_id, code=code, code_key=code.lower(),
        name=optional_text(fields.get("name"), "name", MAX_NAME, code="invalid_name"),
        percent_off_hundredths=hundredths, amount_off=amount_off, currency=currency, duration=duration,
        duration_in_months=months, max_redemptions=_max_redemptions(fields.get("max_redemptions"), 0),
        times_redeemed=0, redeem_by=_redeem_by(fields.get("redeem_by"), ctx),
        active=check_bool(fields.get("active", True), "active"), created_at=now, updated_at=now,
    )
    product_ids = await _check_products(ctx.uow, team, fields.get("product_ids") or [])
    await _check_code_free(ctx.uow, team, coupon.code_key, None)
    await _flush_code(ctx.uow, lambda: ctx.uow.session.add(coupon))
    ctx.uow.session.add_all([CouponProduct(coupon_id=coupon.id, product_id=p) for p in product_ids])
    await ctx.uow.session.flush()
    return CouponView(coupon, product_ids)


async def update_coupon(ctx: Ctx, team: TeamContext, coupon: Coupon, changes: Mapping[str, Any]) -> CouponView:
    """Change the code, name, ``max_redemptions`` (not below ``times_redeemed``), ``redeem_by``
    (``null``: no end), ``product_ids`` (replaces the list) or ``active``; the discount terms may be
    sent only with their current value."""
    for name in TERMS:
        if name in changes and _differs(coupon, name, changes[name]):
            raise ValidationFailed(f"A coupon's {name} never changes (Stripe's rule): create a new coupon.",
                                   code="coupon_immutable", field=name)
    if "name" in changes:
        coupon.name = optional_text(changes["name"], "name", MAX_NAME, code="invalid_name")
    if "max_redemptions" in changes:
        coupon.max_redemptions = _max_redemptions(changes["max_redemptions"], coupon.times_redeemed)
    if "redeem_by" in changes:
        coupon.redeem_by = _redeem_by(changes["redeem_by"], ctx)
    if "active" in changes:
        coupon.active = check_bool(changes["active"], "active")
    product_ids = None
    if "product_ids" in changes:
        product_ids = await _check_products(ctx.uow, team, changes["product_ids"] or [])
    code_changed = False
    if "code" in changes:
        code = _check_code(changes["code"])
        code_changed = code.lower() != coupon.code_key
        if code_changed:
            await _check_code_free(ctx.uow, team, code.lower(), coupon.id)
        coupon.code, coupon.code_key = code, code.lower()
    coupon.updated_at = ctx.now()
    if code_changed:
        await _flush_code(ctx.uow, lambda: None)
    if product_ids is not None:
        await _replace_products(ctx.uow, coupon, product_ids)
    await ctx.uow.session.flush()
    return await get_coupon(ctx, team, coupon.id)


async def set_coupon_products(ctx: Ctx, team: TeamContext, coupon: Coupon, product_ids: Sequence[Any]) -> CouponView:
    """Scope the coupon to these products (an empty list: every product of the team)."""
    return await update_coupon(ctx, team, coupon, {"product_ids": list(product_ids)})


async def list_coupon_products(ctx: Ctx, team: TeamContext, coupon: Coupon, page: PageRequest) -> Page[Product]:
    """The live products the coupon is scoped to, in creation order."""
    stmt = sa.select(Product).join(CouponProduct, CouponProduct.product_id == Product.id).where(
        CouponProduct.coupon_id == coupon.id, Product.deleted_at.is_(None))
    return await paginate(ctx.uow.session, stmt, Product.id, page)


async def delete_coupon(ctx: Ctx, team: TeamContext, coupon: Coupon) -> None:
    """Remove the coupon; orders keep the code and amounts they were bought with."""
    await ctx.uow.session.delete(coupon)
    await ctx.uow.session.flush()


# ---- rules ------------------------------------------------------------------------------------------


def _check_code(value: Any) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValidationFailed("code is 1 to 64 letters, digits, `_` or `-`.", code="invalid_code", field="code")
    return value


def _discount(fields: Mapping[str, Any]) -> tuple[int | None, int | None, str | None]:
    """(percent_off in hundredths, amount_off, currency): exactly one kind of discount."""
    percent, amount, currency = fields.get("percent_off"), fields.get("amount_off"), fields.get("currency")
    if (percent is None) == (amount is None):
        raise ValidationFailed("A coupon takes percent_off or amount_off (with currency), not both and not neither.",
                               code="invalid_discount", field="percent_off" if percent is None else "amount_off")
    if amount is not None:
        amount = check_amount(amount, "amount_off", low=1, code="invalid_amount_off")
        if currency is None:
            raise ValidationFailed("amount_off needs a currency.", code="currency_required", field="currency")
        return None, amount, check_currency(currency)
    if currency is not None:
        raise ValidationFailed("currency goes with amount_off only.", code="currency_not_allowed", field="currency")
    return _percent_hundredths(percent), None, None


def _percent_hundredths(value: Any) -> int:
    """A percentage in (0, 100] with at most two decimals, as hundredths (12.5 -> 1250)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    hundredths = round(value * 100) if ok else 0
    if not ok or not 0 < value <= 100 or abs(value * 100 - hundredths) > 1e-6:
        raise ValidationFailed("percent_off is a number above 0 and at most 100, with at most two decimals.",
                               code="invalid_percent_off", field="percent_off")
    return int(hundredths)


def _max_redemptions(value: Any, redeemed: int) -> int | None:
    if value is None:
        return None
    low = max(1, redeemed)
    return check_int(value, "max_redemptions", low, MAX_REDEMPTIONS, code="invalid_max_redemptions")


def _redeem_by(value: Any, ctx: Ctx) -> Any:
    return None if value is None else check_future(value, "redeem_by", ctx.now(), code="redeem_by_in_past")


def _differs(coupon: Coupon, name: str, value: Any) -> bool:
    if name == "percent_off":
        current = coupon.percent_off_hundredths
        if value is None or current is None:
            return (value is None) != (current is None)
        return not isinstance(value, (int, float)) or isinstance(value, bool) or abs(value * 100 - current) > 1e-6
    if name == "currency" and isinstance(value, str):
        value = value.lower()
    return bool(value != getattr(coupon, name))


async def _check_products(uow: UnitOfWork, team: TeamContext, values: Sequence[Any]) -> list[uuid.UUID]:
    """The team's live products named in ``values``, once each, in creation order (ids are
    time-ordered); 404 naming the first that is not one."""
    if len(values) > MAX_PRODUCTS:
        raise ValidationFailed(f"A coupon names at most {MAX_PRODUCTS} products.", code="too_many_products",
                               field="product_ids", meta={"max": MAX_PRODUCTS})
    ids = [check_id(v, ("product_ids", i)) for i, v in enumerate(values)]
    live: set[uuid.UUID] = set()
    if ids:
        live = set(await uow.session.scalars(sa.select(Product.id).where(
            Product.id.in_(ids), Product.team_id == team.team_id, Product.deleted_at.is_(None))))
    for i, product_id in enumerate(ids):
        if product_id not in live:
            raise NotFound("No product of this team has this id.", field=("product_ids", i))
    return sorted(set(ids))


async def _replace_products(uow: UnitOfWork, coupon: Coupon, product_ids: list[uuid.UUID]) -> None:
    await uow.session.execute(sa.delete(CouponProduct).where(CouponProduct.coupon_id == coupon.id))
    uow.session.add_all([CouponProduct(coupon_id=coupon.id, product_id=p) for p in product_ids])
    await uow.session.flush()


async def _product_ids(uow: UnitOfWork, coupon_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each coupon's product ids (deleted products stay listed: the coupon never widens to every
    product because one was deleted)."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in coupon_ids}
    if coupon_ids:
        rows = await uow.session.execute(sa.select(CouponProduct.coupon_id, CouponProduct.product_id).where(
            CouponProduct.coupon_id.in_(coupon_ids)).order_by(CouponProduct.coupon_id, CouponProduct.product_id))
        for coupon_id, product_id in rows:
            out[coupon_id].append(product_id)
    return out


async def _check_code_free(uow: UnitOfWork, team: TeamContext, code_key: str, except_id: uuid.UUID | None) -> None:
    stmt = sa.select(sa.exists().where(Coupon.team_id == team.team_id, Coupon.code_key == code_key))
    if except_id is not None:
        stmt = sa.select(sa.exists().where(Coupon.team_id == team.team_id, Coupon.code_key == code_key,
                                           Coupon.id != except_id))
    if await uow.session.scalar(stmt):
        raise _duplicate_code()


async def _flush_code(uow: UnitOfWork, change: Any) -> None:
    """Flush in a savepoint: a concurrent request that took the same code first is a 409."""
    try:
        async with uow.session.begin_nested():
            change()
            await uow.session.flush()
    except sa.exc.IntegrityError:
        raise _duplicate_code() from None


def _duplicate_code() -> Conflict:
    return Conflict("The team already has a coupon with this code (codes ignore case).", code="duplicate_code",
                    field="code")
