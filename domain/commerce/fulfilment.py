"""Fulfilment: what a paid order delivers, from its product's deliverables.

``fulfil`` grants each deliverable with one source (the order, or the subscription that keeps it
alive), so that taking the purchase back later is ``revoke_entitlements_from_source`` of that
source:

- ``hub_access``: an entitlement in the deliverable's hub, naming that hub;
- ``community_access``: an entitlement in the space's hub, naming the space;
- ``content_enrollment``, ``file_download``: an entitlement in the order's hub, naming the target;
- ``tag``: the tag on the buyer's team contact (a tag is not taken back by a refund: it records
  that they bought, as at most CRMs).

It is idempotent: the grants are (``domain/access/entitlements.py``), and a tag already on the
contact stays as it is, so a replayed webhook or a retried job delivers once. A deliverable whose
target was deleted since (a hub, a space, a tag) is skipped rather than failing the payment.
"""

from __future__ import annotations

import sqlalchemy as sa

from domain.access.entitlements import grant_entitlement
from domain.access.invalidation import facts_changed
from domain.context import Ctx
from persistence.models import ContactTag, Hub, Order, ProductDeliverable, Space, Tag, TeamContact


async def fulfil(ctx: Ctx, order: Order, *, source: str, source_id: str) -> None:
    """Deliver the order's product to its contact, granted with ``source``/``source_id``."""
    s = ctx.uow.session
    deliverables = list(await s.scalars(
        sa.select(ProductDeliverable).where(ProductDeliverable.product_id == order.product_id)
        .order_by(ProductDeliverable.id)))
    for d in deliverables:
        if d.type == "tag":
            await _tag(ctx, order, d)
            continue
        hub_id = order.hub_id
        if d.type == "hub_access":
            hub_id = d.target_id or order.hub_id
        elif d.type == "community_access":
            space = await s.get(Space, d.target_id) if d.target_id else None
            if space is None or space.deleted_at is not None:
                continue
            hub_id = space.hub_id
        hub = await s.get(Hub, hub_id)
        if hub is None or hub.team_id != order.team_id or hub.deleted_at is not None:
            continue
        await grant_entitlement(ctx, hub, contact_id=order.contact_id, kind=d.type, target_id=d.target_id,
                                source=source, source_id=source_id)


async def _tag(ctx: Ctx, order: Order, deliverable: ProductDeliverable) -> None:
    s = ctx.uow.session
    tag = await s.get(Tag, deliverable.target_id) if deliverable.target_id else None
    tc = await s.scalar(sa.select(TeamContact).where(TeamContact.team_id == order.team_id,
                                                     TeamContact.contact_id == order.contact_id))
    if tag is None or tag.team_id != order.team_id or tc is None:
        return
    present = await s.scalar(sa.select(sa.exists().where(ContactTag.team_contact_id == tc.id,
                                                         ContactTag.tag_id == tag.id)))
    if present:
        return
    try:
        async with s.begin_nested():  # a concurrent identical tagging is not an error
            s.add(ContactTag(team_contact_id=tc.id, tag_id=tag.id, created_at=ctx.now()))
            await s.flush()
    except sa.exc.IntegrityError:
        return
    facts_changed(ctx.uow, team_id=order.team_id, contact_id=order.contact_id)  # tags are team-wide
