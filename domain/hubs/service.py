"""Hub use cases (team side)."""

from __future__ import annotations

import uuid

from domain.errors import NotFound
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import Hub


async def get_hub(uow: UnitOfWork, ctx: TeamContext, hub_id: uuid.UUID | None) -> Hub:
    """The team's hub, or 404 (also for another team's hub, a deleted hub or a malformed id)."""
    hub = await uow.session.get(Hub, hub_id) if hub_id else None
    if hub is None or hub.team_id != ctx.team_id or hub.deleted_at is not None:
        raise NotFound("Hub not found.")
    return hub
