"""The member side of the catalog, ``H/catalog``: what a member of a hub may buy there.

A product is on offer in a hub when the hub displays it, it is live and active, and it has at
least one live, active price; the member sees its active prices only. The catalog is in the hub's
display order (``position``, then the order the products were added), each product flagged
``featured`` or not: the hub's page decides how to set featured products apart.

One more rule, so nobody pays twice for what they hold: a product is left out for a member who
already holds, right now, every entitlement it delivers (each ``hub_access``,
``community_access``, ``content_enrollment`` and ``file_download`` deliverable matched by an
active entitlement of the same kind on the same target in the team; a ``hub_access`` entitlement
granted without a target counts for its own hub). A product that delivers only tags, or nothing,
is always on offer. When an entitlement ends, is revoked or lapses, the product is back at once.

Checkout sells what this page shows: ``sellable_price`` is the same rule for one price.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from domain.catalog.deliverables import ENTITLEMENT_TYPES
from domain.context import Ctx
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Entitlement, HubProductDisplay, Price, Product, ProductDeliverable
from persistence.pagination import (
    Page,
    PageRequest,
    decode_sort_cursor,
    encode_sort_cursor,
    page_of,
    rows_after,
)

_ORDER_TAG = "c"  # the sort cursor's tag: (position, display id)


@dataclass(frozen=True)
class CatalogEntry:
    """A product on offer in the hub: where the hub shows it, and its active prices."""

    display: HubProductDisplay
    product: Product
    prices: list[Price]


async def member_catalog(ctx: Ctx, member: MemberPrincipal, page: PageRequest, after: str | None) -> Page[CatalogEntry]:
    """The products on offer to ``member`` in their hub, in display order (see the module's
    docstring). Filtered in SQL, so a page is never short."""
    d, p = HubProductDisplay, Product
    cursor = decode_sort_cursor(_ORDER_TAG, "int", after)
    stmt = (sa.select(d, p).join(p, p.id == d.product_id)
            .where(d.hub_id == member.hub_id, p.team_id == member.team_id, p.active.is_(True), p.deleted_at.is_(None),
                   sa.exists().where(*_on_sale(Price, p.id)),
                   sa.not_(_owned(p.id, member.team_id, member.contact_id, ctx.now())),
                   rows_after(d.position, d.id, cursor, descending=False))
            .order_by(d.position, d.id).limit(page.size + 1))
    rows = [tuple(r) for r in (await ctx.uow.session.execute(stmt)).all()]
    found = page_of(rows, page.size, lambda r: encode_sort_cursor(_ORDER_TAG, r[0].position, r[0].id))
    prices: dict[uuid.UUID, list[Price]] = {product.id: [] for _, product in found.items}
    if prices:
        for price in await ctx.uow.session.scalars(
                sa.select(Price).where(Price.product_id.in_(list(prices)), *_on_sale(Price)).order_by(Price.id)):
            prices[price.product_id].append(price)
    return Page([CatalogEntry(display, product, prices[product.id]) for display, product in found.items],
                found.has_more, found.next_cursor)


async def sellable_price(uow: UnitOfWork, hub_id: uuid.UUID, price_id: uuid.UUID | None) -> tuple[Product, Price] | None:
    """(product, price) when the hub sells this price: a live, active price of a live, active
    product the hub displays; None otherwise (the caller names its refusal)."""
    if price_id is None:
        return None
    row = (await uow.session.execute(
        sa.select(Product, Price).join(Price, Price.product_id == Product.id)
        .join(HubProductDisplay, sa.and_(HubProductDisplay.product_id == Product.id, HubProductDisplay.hub_id == hub_id))
        .where(Price.id == price_id, *_on_sale(Price), Product.active.is_(True), Product.deleted_at.is_(None))
    )).first()
    return None if row is None else (row[0], row[1])


def _on_sale(price: Any, product_id: Any = None) -> list[Any]:
    clauses = [price.active.is_(True), price.deleted_at.is_(None)]
    return clauses if product_id is None else [price.product_id == product_id, *clauses]


def _owned(product_id: Any, team_id: uuid.UUID, contact_id: uuid.UUID, now: datetime) -> Any:
    """True for a product with at least one entitlement deliverable, each held by the contact now."""
    granting, missing = aliased(ProductDeliverable), aliased(ProductDeliverable)
    e = Entitlement
    held = sa.exists().where(
        e.team_id == team_id, e.contact_id == contact_id, e.kind == missing.type,
        sa.or_(e.target_id == missing.target_id,
               sa.and_(e.kind == "hub_access", e.target_id.is_(None), e.hub_id == missing.target_id)),
        # held now: not revoked, started, not ended (ends_at is exclusive), as domain/access/entitlements.py
        sa.or_(e.revoked_at.is_(None), e.revoked_at > now),
        sa.or_(e.starts_at.is_(None), e.starts_at <= now),
        sa.or_(e.ends_at.is_(None), e.ends_at > now),
    )
    return sa.and_(
        sa.exists().where(granting.product_id == product_id, granting.type.in_(ENTITLEMENT_TYPES)),
        sa.not_(sa.exists().where(missing.product_id == product_id, missing.type.in_(ENTITLEMENT_TYPES),
                                  sa.not_(held))),
    )
