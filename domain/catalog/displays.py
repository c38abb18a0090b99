"""Hub product displays: which of the team's products a hub's catalog shows, at what ``position``
(ascending), which ``featured``. A product is shown at most once per hub (409
``duplicate_display``); the product must be the team's (404 naming ``product_id``). Members see
a displayed product only while it is active and has an active price (``storefront.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.catalog.fields import check_bool, check_id, check_position
from domain.catalog.products import find_product
from domain.context import Ctx
from domain.errors import Conflict, NotFound
from domain.teams.service import TeamContext
from persistence.models import Hub, HubProductDisplay
from persistence.pagination import (
    Page,
    PageRequest,
    decode_sort_cursor,
    encode_sort_cursor,
    page_of,
    rows_after,
)

_ORDER_TAG = "d"  # the sort cursor's tag: (position, id)


async def get_display(ctx: Ctx, team: TeamContext, hub: Hub, display_id: uuid.UUID | None) -> HubProductDisplay:
    row = await ctx.uow.session.get(HubProductDisplay, display_id) if display_id else None
    if row is None or row.hub_id != hub.id:
        raise NotFound("Product display not found.")
    return row


async def list_displays(ctx: Ctx, team: TeamContext, hub: Hub, page: PageRequest, after: str | None, *,
                        product_id: uuid.UUID | None = None, featured: bool | None = None) -> Page[HubProductDisplay]:
    """The hub's displays in catalog order (``position``, then the order they were added)."""
    d = HubProductDisplay
    cursor = decode_sort_cursor(_ORDER_TAG, "int", after)
    stmt = sa.select(d).where(d.hub_id == hub.id, rows_after(d.position, d.id, cursor, descending=False))
    if product_id is not None:
        stmt = stmt.where(d.product_id == product_id)
    if featured is not None:
        stmt = stmt.where(d.featured.is_(featured))
    rows = list((await ctx.uow.session.scalars(stmt.order_by(d.position, d.id).limit(page.size + 1))).all())
    return page_of(rows, page.size, lambda r: encode_sort_cursor(_ORDER_TAG, r.position, r.id))


async def create_display(ctx: Ctx, team: TeamContext, hub: Hub, fields: Mapping[str, Any]) -> HubProductDisplay:
    """Show one of the team's products in the hub's catalog."""
    product = await find_product(ctx.uow, team.team_id, check_id(fields.get("product_id"), "product_id"),
                                 field="product_id")
    now = ctx.now()
    row = HubProductDisplay(team_id=team.team_id, hub_id=hub.id, product_id=product.id,
                            position=check_position(fields.get("position", 0)),
                            featured=check_bool(fields.get("featured", False), "featured"),
                            created_at=now, updated_at=now)
    s = ctx.uow.session
    taken = await s.scalar(sa.select(sa.exists().where(HubProductDisplay.hub_id == hub.id,
                                                       HubProductDisplay.product_id == product.id)))
    if taken:
        raise _duplicate()
    try:
        async with s.begin_nested():  # a concurrent identical request loses here, not with a 500
            s.add(row)
            await s.flush()
    except sa.exc.IntegrityError:
        raise _duplicate() from None
    return row


async def update_display(ctx: Ctx, team: TeamContext, row: HubProductDisplay,
                         changes: Mapping[str, Any]) -> HubProductDisplay:
    """Move it (``position``) or (un)feature it."""
    if "position" in changes:
        row.position = check_position(changes["position"])
    if "featured" in changes:
        row.featured = check_bool(changes["featured"], "featured")
    row.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return row


async def delete_display(ctx: Ctx, team: TeamContext, row: HubProductDisplay) -> None:
    """Take the product out of the hub's catalog (the product itself stays)."""
    await ctx.uow.session.delete(row)
    await ctx.uow.session.flush()


def _duplicate() -> Conflict:
    return Conflict("This hub already shows this product.", code="duplicate_display", field="product_id")
