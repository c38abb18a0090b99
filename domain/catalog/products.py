"""Products: what a team sells.

A product is archived with ``active`` false (it stays on the orders and subscriptions that name it,
and leaves every hub's catalog); DELETE is a soft delete, refused with 409 ``product_in_use`` while
an order names one of its prices. Another team's product, a deleted one and a malformed id are all
404.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.catalog.fields import MAX_DESCRIPTION, check_bool, check_http_url, check_name, optional_text
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import HubProductDisplay, Order, Price, Product
from persistence.pagination import Page, PageRequest, paginate

# Stripe's bounds for metadata: a flat object of at most 50 keys of 40 characters, values of 500.
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


async def get_product(ctx: Ctx, team: TeamContext, product_id: uuid.UUID | None) -> Product:
    """The team's live product, or 404."""
    return await find_product(ctx.uow, team.team_id, product_id)


async def find_product(uow: UnitOfWork, team_id: uuid.UUID, product_id: uuid.UUID | None, *,
                       field: str | tuple[str | int, ...] | None = None) -> Product:
    """The live product ``product_id`` of the team, or 404 (naming ``field`` when the id came in a
    body)."""
    product = await uow.session.get(Product, product_id) if product_id else None
    if product is None or product.team_id != team_id or product.deleted_at is not None:
        raise NotFound("No product of this team has this id.", field=field)
    return product


async def list_products(ctx: Ctx, team: TeamContext, page: PageRequest, *, active: bool | None = None) -> Page[Product]:
    """The team's live products in creation order; ``active`` filters archived ones in or out."""
    stmt = sa.select(Product).where(Product.team_id == team.team_id, Product.deleted_at.is_(None))
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return await paginate(ctx.uow.session, stmt, Product.id, page)


async def create_product(ctx: Ctx, team: TeamContext, fields: Mapping[str, Any]) -> Product:
    """A new product: ``name`` required; ``description``, ``image_url`` (http or https),
    ``active`` (default true), ``metadata`` (a flat object)."""
    now = ctx.now()
    product = Product(
        team_id=team.team_id, name=check_name(fields.get("name")),
        description=optional_text(fields.get("description"), "description", MAX_DESCRIPTION,
                                  code="invalid_description"),
        image_url=check_http_url(fields.get("image_url"), "image_url", code="invalid_image_url"),
        active=check_bool(fields.get("active", True), "active"),
        meta=check_metadata(fields.get("metadata") or {}),
        created_at=now, updated_at=now,
    )
    ctx.uow.session.add(product)
    await ctx.uow.session.flush()
    return product


async def update_product(ctx: Ctx, team: TeamContext, product: Product, changes: Mapping[str, Any]) -> Product:
    """Apply the attributes sent; ``null`` clears ``description`` and ``image_url``; ``metadata``
    sent replaces the whole object."""
    if "name" in changes:
        product.name = check_name(changes["name"])
    if "description" in changes:
        product.description = optional_text(changes["description"], "description", MAX_DESCRIPTION,
                                            code="invalid_description")
    if "image_url" in changes:
        product.image_url = check_http_url(changes["image_url"], "image_url", code="invalid_image_url")
    if "active" in changes:
        product.active = check_bool(changes["active"], "active")
    if "metadata" in changes:
        product.meta = check_metadata(changes["metadata"])
    product.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return product


async def delete_product(ctx: Ctx, team: TeamContext, product: Product) -> None:
    """Soft delete (404 afterwards, its prices with it) and out of every hub's catalog; 409
    ``product_in_use`` while an order names one of its prices: archive it instead."""
    s = ctx.uow.session
    in_use = await s.scalar(sa.select(sa.exists().where(
        Order.price_id.in_(sa.select(Price.id).where(Price.product_id == product.id)))))
    if in_use:
        raise Conflict("This product has orders: archive it with `active: false` instead.", code="product_in_use")
    now = ctx.now()
    product.deleted_at = now
    product.updated_at = now
    await s.execute(sa.delete(HubProductDisplay).where(HubProductDisplay.product_id == product.id))
    await s.flush()


def check_metadata(value: Any) -> dict[str, Any]:
    """A flat JSON object, as Stripe's metadata: at most 50 keys of 1 to 40 characters; values are
    text (at most 500 characters), numbers or booleans."""
    if not isinstance(value, dict):
        raise ValidationFailed("metadata is a JSON object.", code="invalid_metadata", field="metadata")
    if len(value) > MAX_METADATA_KEYS:
        raise ValidationFailed(f"metadata holds at most {MAX_METADATA_KEYS} keys.", code="invalid_metadata",
                               field="metadata", meta={"max_keys": MAX_METADATA_KEYS})
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY:
            raise ValidationFailed(f"metadata keys are 1 to {MAX_METADATA_KEY} characters.",
                                   code="invalid_metadata", field=("metadata", key))
        flat = (isinstance(item, str) and len(item) <= MAX_METADATA_VALUE) or isinstance(item, (bool, int)) or (
            isinstance(item, float) and math.isfinite(item))
        if not flat:
            raise ValidationFailed(f"metadata values are text of at most {MAX_METADATA_VALUE} characters, numbers "
                                   "or booleans (the object is flat).", code="invalid_metadata",
                                   field=("metadata", key))
    return dict(value)
