"""The tags of team contacts, read in one query (the CRM's records and a segment's members)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from persistence.db import UnitOfWork
from persistence.models import ContactTag

# Built once (its cache key is kept with it): each page of contacts runs it.
_TAGS_OF = (sa.select(ContactTag.team_contact_id, ContactTag.tag_id)
            .where(ContactTag.team_contact_id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(ContactTag.created_at, ContactTag.tag_id))


async def tag_ids_of(uow: UnitOfWork, team_contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The tag ids of each team contact (oldest tagging first), in one query."""
    tags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in team_contact_ids}
    if not tags:
        return tags
    rows = await uow.session.execute(_TAGS_OF, {"ids": list(tags)})
    for tc_id, tag_id in rows:
        tags[tc_id].append(tag_id)
    return tags
