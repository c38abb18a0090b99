"""The tags of team contacts, read in one query (the CRM's records and a segment's members)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from persistence.db import UnitOfWork
from persistence.models import ContactTag, TeamContact
from persistence.statements import PerDialect, in_ids

# Built once per dialect (its cache key is kept with it): each page of contacts runs it.
_TAGS_OF = PerDialect(lambda dialect: sa.select(ContactTag.team_contact_id, ContactTag.tag_id)
                      .where(in_ids(ContactTag.team_contact_id, "ids", dialect))
                      .order_by(ContactTag.created_at, ContactTag.tag_id))

# On PostgreSQL a page of contacts reads its tags in the same statement: this column, each row's
# tag ids in tagging order (NULL for none). SQLite cannot aggregate in a given order (before 3.44)
# and reads them with ``tag_ids_of`` after the page.
PAGE_TAG_IDS = (sa.select(sa.func.array_agg(aggregate_order_by(ContactTag.tag_id, ContactTag.created_at,
                                                                ContactTag.tag_id)))
                .where(ContactTag.team_contact_id == TeamContact.id)
                .correlate(TeamContact).scalar_subquery().label("tag_ids"))


async def tag_ids_of(uow: UnitOfWork, team_contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The tag ids of each team contact (oldest tagging first), in one query."""
    tags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in team_contact_ids}
    if not tags:
        return tags
    rows = await uow.session.execute(_TAGS_OF(uow.session), {"ids": list(tags)})
    for tc_id, tag_id in rows:
        tags[tc_id].append(tag_id)
    return tags
