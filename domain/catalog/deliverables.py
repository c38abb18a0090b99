"""Deliverables: what buying a product delivers. Each names a ``type`` and the ``target_id`` it
acts on, checked against the team's data:

- ``hub_access``: a hub of the team (the entitlement is granted in that hub)
- ``community_access``: a space of one of the team's hubs (granted in the space's hub)
- ``tag``: a tag of the team (put on the buyer's team contact)
- ``content_enrollment``, ``file_download``: any id for now, as content and media have no tables
  yet (granted in the hub where the checkout happened)

A target of another team, deleted, or unknown is 404 naming ``target_id``; the same type and
target twice on one product is 409 ``duplicate_deliverable``. Deliverables are added and removed,
never edited; removing one takes nothing back from past buyers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.catalog.fields import check_choice, check_id
from domain.context import Ctx
from domain.crm.tags import find_tag
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.filters import filter_choice
from domain.hubs.service import get_hub
from domain.teams.service import TeamContext
from persistence.models import Product, ProductDeliverable, Space
from persistence.pagination import Page, PageRequest, paginate

DELIVERABLE_TYPES = ("hub_access", "content_enrollment", "tag", "file_download", "community_access")
# The kinds that grant an entitlement of the same name (the others: ``tag``).
ENTITLEMENT_TYPES = ("hub_access", "content_enrollment", "file_download", "community_access")
MAX_PER_PRODUCT = 20


async def get_deliverable(ctx: Ctx, team: TeamContext, product: Product,
                          deliverable_id: uuid.UUID | None) -> ProductDeliverable:
    row = await ctx.uow.session.get(ProductDeliverable, deliverable_id) if deliverable_id else None
    if row is None or row.product_id != product.id:
        raise NotFound("Deliverable not found.")
    return row


async def list_deliverables(ctx: Ctx, team: TeamContext, product: Product, page: PageRequest, *,
                            type: str | None = None) -> Page[ProductDeliverable]:
    """The product's deliverables in the order they were added."""
    stmt = sa.select(ProductDeliverable).where(ProductDeliverable.product_id == product.id)
    if filter_choice(type, "type", DELIVERABLE_TYPES) is not None:
        stmt = stmt.where(ProductDeliverable.type == type)
    return await paginate(ctx.uow.session, stmt, ProductDeliverable.id, page)


async def add_deliverable(ctx: Ctx, team: TeamContext, product: Product, fields: Mapping[str, Any]) -> ProductDeliverable:
    """Deliver ``type`` on ``target_id`` to the product's buyers (targets checked, see above)."""
    kind = check_choice(fields.get("type"), DELIVERABLE_TYPES, "type", code="invalid_deliverable_type")
    target_id = check_id(fields.get("target_id"), "target_id")
    await _check_target(ctx, team, kind, target_id)
    s = ctx.uow.session
    existing = list((await s.scalars(sa.select(ProductDeliverable).where(
        ProductDeliverable.product_id == product.id))).all())
    if any(d.type == kind and d.target_id == target_id for d in existing):
        raise _duplicate()
    if len(existing) >= MAX_PER_PRODUCT:
        raise ValidationFailed(f"A product delivers at most {MAX_PER_PRODUCT} things.", code="too_many_deliverables",
                               field="type", meta={"max": MAX_PER_PRODUCT})
    row = ProductDeliverable(team_id=team.team_id, product_id=product.id, type=kind, target_id=target_id,
                             created_at=ctx.now())
    try:
        async with s.begin_nested():  # a concurrent identical request loses here, not with a 500
            s.add(row)
            await s.flush()
    except sa.exc.IntegrityError:
        raise _duplicate() from None
    return row


async def remove_deliverable(ctx: Ctx, team: TeamContext, deliverable: ProductDeliverable) -> None:
    """Stop delivering it to future buyers (past ones keep what they got)."""
    await ctx.uow.session.delete(deliverable)
    await ctx.uow.session.flush()


async def _check_target(ctx: Ctx, team: TeamContext, kind: str, target_id: uuid.UUID) -> None:
    uow = ctx.uow
    try:
        if kind == "hub_access":
            await get_hub(ctx, team, target_id)
        elif kind == "community_access":
            space = await uow.session.get(Space, target_id)
            if space is None or space.deleted_at is not None:
                raise NotFound()
            await get_hub(ctx, team, space.hub_id)  # the space's hub must be the team's, and live
        elif kind == "tag":
            await find_tag(uow, team, target_id)
    except NotFound:
        what = {"hub_access": "hub", "community_access": "space", "tag": "tag"}[kind]
        raise NotFound(f"No {what} of this team has this id.", field="target_id") from None


def _duplicate() -> Conflict:
    return Conflict("The product already delivers this type on this target.", code="duplicate_deliverable",
                    field="target_id")
