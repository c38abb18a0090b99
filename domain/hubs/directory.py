"""The public face of a hub: what anyone may learn of it before signing in (its name, slug and
branding), looked up by slug or id. This is what a sign-in page shows; nothing here reveals
members, content or settings. Slugs are unique per team, so one slug may name hubs of several
teams: the lookup answers every live one (the caller chooses).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.context import Ctx
from domain.errors import ValidationFailed
from persistence.models import Hub, Team

MAX_MATCHES = 20


@dataclass(frozen=True)
class PublicHub:
    id: uuid.UUID
    name: str
    slug: str
    description: str | None
    is_private: bool
    branding: dict[str, Any]


async def find_public_hubs(ctx: Ctx, *, slug: str | None = None, hub_id: uuid.UUID | None = None) -> list[PublicHub]:
    """Live hubs (of live teams) with this ``slug`` and/or ``hub_id``, oldest first, at most
    ``MAX_MATCHES``. At least one of the two is required (422 ``missing_filter``): there is no
    list of every hub."""
    if slug is None and hub_id is None:
        raise ValidationFailed("Give filter[slug] or filter[id].", code="missing_filter", parameter="filter[slug]")
    stmt = (sa.select(Hub).join(Team, Team.id == Hub.team_id)
            .where(Hub.deleted_at.is_(None), Team.deleted_at.is_(None)))
    if slug is not None:
        stmt = stmt.where(Hub.slug == slug)
    if hub_id is not None:
        stmt = stmt.where(Hub.id == hub_id)
    hubs = (await ctx.uow.session.scalars(stmt.order_by(Hub.id).limit(MAX_MATCHES))).all()
    return [PublicHub(h.id, h.name, h.slug, h.description, h.is_private, dict(h.branding or {})) for h in hubs]
