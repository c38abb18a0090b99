"""What documents say of reactions: per discussion or comment, each emoji's count and whether the
reader reacted with it, most used first (then the emoji used first, then the emoji).

For a page, :func:`reactions_of` reads them all at once. On PostgreSQL a feed page or a comment
page brings them in its own statement (:func:`page_reactions`, a column of the page: one statement
fewer per request, bench/README.md); elsewhere, and for rows read without that column (a single
discussion or comment), one grouped query after the page (:func:`reaction_counts`). Both order the
same way, so neither the backend nor the route changes a document.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from domain.context import Ctx
from domain.identity.members import MemberPrincipal
from persistence.models import Reaction
from persistence.statements import PerDialect, dialect_of, in_ids


@dataclass(frozen=True)
class ReactionCount:
    emoji: str
    count: int
    reacted: bool


# The name of a page's reactions column, and of the reader's contact id it binds at execution.
COLUMN = "reactions_json"
READER = "reaction_reader_id"


def page_reactions(target_type: str, target_id: Any) -> sa.Label[Any]:
    """A PostgreSQL column for a page of ``target_type`` rows whose id is ``target_id`` (a column
    of the page's table, correlated): ``[[emoji, count, reacted], ...]`` in document order, NULL
    for none. The reader's contact id is bound as ``READER`` when the page is read."""
    per_emoji = (sa.select(Reaction.emoji, sa.func.count().label("n"),
                           sa.func.bool_or(Reaction.contact_id == sa.bindparam(READER, type_=sa.Uuid())).label("mine"),
                           sa.func.min(Reaction.created_at).label("first"))
                 .where(Reaction.target_type == target_type, Reaction.target_id == target_id)
                 .group_by(Reaction.emoji).correlate(target_id.table).subquery("r"))
    # The emoji in code point order (COLLATE "C"), as Python sorts them on the other path: the
    # database's collation (en_US.utf8 in the stock image) orders punctuation otherwise.
    ordered = aggregate_order_by(sa.func.json_build_array(per_emoji.c.emoji, per_emoji.c.n, per_emoji.c.mine),
                                 per_emoji.c.n.desc(), per_emoji.c.first, per_emoji.c.emoji.collate("C"))
    return (sa.select(sa.func.json_agg(ordered, type_=sa.JSON)).correlate(target_id.table)
            .scalar_subquery().label(COLUMN))


def with_page_reactions(stmt: sa.Select[Any], session: AsyncSession, column: sa.Label[Any],
                        member: MemberPrincipal) -> sa.Select[Any]:
    """A page's ``stmt`` with its ``page_reactions`` ``column``, bound to ``member`` as reader, on
    PostgreSQL; ``stmt`` as it is elsewhere (:func:`reactions_of` reads them after the page)."""
    if dialect_of(session) != "postgresql":
        return stmt
    return stmt.add_columns(column).params({READER: member.contact_id})


# Built once per dialect (its cache key is kept with it): every page read without the column runs it.
_COUNTS = PerDialect(lambda dialect: sa.select(
    Reaction.target_id, Reaction.emoji, sa.func.count(),
    sa.func.max(sa.case((Reaction.contact_id == sa.bindparam("contact_id"), 1), else_=0)),
    sa.func.min(Reaction.created_at))
    .where(Reaction.target_type == sa.bindparam("target_type"), in_ids(Reaction.target_id, "target_ids", dialect))
    .group_by(Reaction.target_id, Reaction.emoji))


async def reaction_counts(ctx: Ctx, member: MemberPrincipal, target_type: str,
                          target_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[ReactionCount]]:
    """Per target: each emoji's count and whether ``member`` reacted with it (most used first).
    One grouped query for all the targets of a page."""
    if not target_ids:
        return {}
    rows = await ctx.uow.session.execute(_COUNTS(ctx.uow.session), {
        "contact_id": member.contact_id, "target_type": target_type, "target_ids": target_ids})
    out: dict[uuid.UUID, list[tuple[int, Any, str, ReactionCount]]] = {}
    for target_id, emoji, count, reacted, first in rows.all():
        out.setdefault(target_id, []).append((-int(count), first, emoji, ReactionCount(emoji, int(count), bool(reacted))))
    return {t: [rc for *_, rc in sorted(items, key=lambda x: x[:3])] for t, items in out.items()}


async def reactions_of(ctx: Ctx, member: MemberPrincipal, target_type: str,
                       items: Sequence[Any]) -> dict[uuid.UUID, list[ReactionCount]]:
    """The reactions of a page of ``items`` (rows or objects with an ``id``): from the page's own
    ``page_reactions`` column when it was read with one (then for the reader and ``target_type``
    it was read for: the caller passes the same ones), else with :func:`reaction_counts`."""
    if items and hasattr(items[0], COLUMN):
        return {item.id: [ReactionCount(emoji, int(n), bool(mine)) for emoji, n, mine in getattr(item, COLUMN)]
                for item in items if getattr(item, COLUMN)}
    return await reaction_counts(ctx, member, target_type, [item.id for item in items])
