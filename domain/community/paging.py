"""Keyset cursors over a sort key and a time-ordered id, for community lists.

A cursor names the last row of a page by its full sort key — ``(position, id)`` for spaces,
``(id)`` for a newest-first feed, ``(last_activity_at, id)`` for a feed by activity — and the next
page starts strictly after it. Rows inserted between two page fetches land where their key puts
them (new discussions have the newest id and activity: before page one), so pages never repeat or
skip a row that was there. A cursor carries its sort's tag: one issued for another sort is 422.
"""

from __future__ import annotations

import base64
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from domain.errors import ValidationFailed
from persistence.pagination import Page

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Cursor:
    key: int | datetime | None  # the sort value before the id (None: by id alone)
    id: uuid.UUID


def _micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode(tag: str, key: int | datetime | None, id: uuid.UUID) -> str:
    if key is None:
        raw = tag.encode() + id.bytes
    elif isinstance(key, datetime):
        raw = tag.encode() + struct.pack(">q", _micros(key)) + id.bytes
    else:
        raw = tag.encode() + struct.pack(">q", key) + id.bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(tag: str, kind: str, cursor: str | None) -> Cursor | None:
    """The cursor in ``cursor`` for a sort tagged ``tag`` whose key is ``kind`` (``id``, ``int`` or
    ``time``); 422 ``invalid_cursor`` for anything else."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if raw[:1] != tag.encode():
            raise ValueError("another sort's cursor")
        body = raw[1:]
        if kind == "id":
            if len(body) != 16:
                raise ValueError("length")
            return Cursor(None, uuid.UUID(bytes=body))
        if len(body) != 24:
            raise ValueError("length")
        (n,) = struct.unpack(">q", body[:8])
        key: int | datetime = n if kind == "int" else _EPOCH + timedelta(microseconds=n)
        return Cursor(key, uuid.UUID(bytes=body[8:]))
    except (ValueError, TypeError, struct.error, OverflowError):
        raise ValidationFailed("page[after] is not a cursor this server issued for this list.",
                               code="invalid_cursor", parameter="page[after]") from None


def after(key_col: Any, id_col: Any, cursor: Cursor | None, *, descending: bool) -> Any:
    """The WHERE clause for rows strictly after ``cursor`` in (key, id) order."""
    if cursor is None:
        return sa.true()
    if cursor.key is None:
        return id_col < cursor.id if descending else id_col > cursor.id
    if descending:
        return sa.or_(key_col < cursor.key, sa.and_(key_col == cursor.key, id_col < cursor.id))
    return sa.or_(key_col > cursor.key, sa.and_(key_col == cursor.key, id_col > cursor.id))


def page_of(rows: list[Any], size: int, cursor_of: Any) -> Page[Any]:
    """Rows fetched with ``limit(size + 1)`` as a page, the next cursor naming its last row."""
    has_more = len(rows) > size
    rows = rows[:size]
    return Page(rows, has_more, cursor_of(rows[-1]) if has_more and rows else None)
