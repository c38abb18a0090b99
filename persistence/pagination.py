"""Keyset (cursor) pagination: the one pager every list uses. Stable under concurrent inserts.

A cursor names the last row of a page and the next page starts strictly after it, so rows inserted
between two page fetches land where their key puts them and pages never repeat or skip a row that
was there. Two cursor shapes, both base64url without padding and opaque to clients:

- id cursors (:func:`encode_cursor`, :func:`paginate`): the last row's id, 16 bytes. Ids are
  UUIDv7 (persistence/ids.py) and sort by creation time, so most lists order by id alone.
- sort cursors (:func:`encode_sort_cursor`, :func:`rows_after`, :func:`page_of`): a one-letter tag
  naming the sort, then its key — an 8-byte big-endian integer, or a time as microseconds since
  the epoch, or nothing when the sort is by id alone — then the id. Community lists use them:
  ``(position, id)`` for spaces, ``(id)`` for a newest-first feed, ``(last_activity_at, id)`` for a
  feed by activity. A cursor issued for another sort is refused.

Unusable ``page[size]`` / ``page[after]`` raise :class:`InvalidPageRequest`, which the edge
answers as a 422.
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_SIZE = 20
MAX_SIZE = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidPageRequest(ValueError):
    """``page[size]`` or ``page[after]`` is unusable. Raised here, below the domain; the edge
    (server/errors.py) answers it as a 422 validation error naming ``code`` and ``parameter``."""

    def __init__(self, detail: str, *, code: str, parameter: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.parameter = parameter


@dataclass(frozen=True)
class PageRequest:
    size: int = DEFAULT_SIZE
    after: uuid.UUID | None = None

    @classmethod
    def parse(cls, size: str | int | None, after: str | None) -> PageRequest:
        if size is None or size == "":
            n = DEFAULT_SIZE
        else:
            try:
                n = int(size)
            except (TypeError, ValueError):
                n = 0
            if not 1 <= n <= MAX_SIZE:
                raise InvalidPageRequest(
                    f"page[size] must be an integer from 1 to {MAX_SIZE}.",
                    code="invalid_page_size",
                    parameter="page[size]",
                )
        return cls(size=n, after=decode_cursor(after) if after else None)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None


# ---- id cursors ----------------------------------------------------------------------------------


def encode_cursor(last_id: uuid.UUID) -> str:
    return _b64(last_id.bytes)


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=_unb64(cursor))
    except (ValueError, TypeError):
        raise InvalidPageRequest(
            "page[after] is not a cursor this server issued.", code="invalid_cursor", parameter="page[after]"
        ) from None


# ---- sort cursors: a tagged (key, id) ------------------------------------------------------------


@dataclass(frozen=True)
class SortCursor:
    key: int | datetime | None  # the sort value before the id (None: by id alone)
    id: uuid.UUID


def _micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_sort_cursor(tag: str, key: int | datetime | None, id: uuid.UUID) -> str:
    """The cursor naming a row whose sort (tagged ``tag``) has ``key`` then ``id``."""
    if key is None:
        raw = tag.encode() + id.bytes
    elif isinstance(key, datetime):
        raw = tag.encode() + struct.pack(">q", _micros(key)) + id.bytes
    else:
        raw = tag.encode() + struct.pack(">q", key) + id.bytes
    return _b64(raw)


def decode_sort_cursor(tag: str, kind: str, cursor: str | None) -> SortCursor | None:
    """The cursor in ``cursor`` for a sort tagged ``tag`` whose key is ``kind`` (``id``, ``int`` or
    ``time``); None when there is none; :class:`InvalidPageRequest` ``invalid_cursor`` for anything else."""
    if not cursor:
        return None
    try:
        raw = _unb64(cursor)
        if raw[:1] != tag.encode():
            raise ValueError("another sort's cursor")
        body = raw[1:]
        if kind == "id":
            if len(body) != 16:
                raise ValueError("length")
            return SortCursor(None, uuid.UUID(bytes=body))
        if len(body) != 24:
            raise ValueError("length")
        (n,) = struct.unpack(">q", body[:8])
        key: int | datetime = n if kind == "int" else _EPOCH + timedelta(microseconds=n)
        return SortCursor(key, uuid.UUID(bytes=body[8:]))
    except (ValueError, TypeError, struct.error, OverflowError):
        raise InvalidPageRequest("page[after] is not a cursor this server issued for this list.",
                                 code="invalid_cursor", parameter="page[after]") from None


def rows_after(key_col: Any, id_col: Any, cursor: SortCursor | None, *, descending: bool) -> Any:
    """The WHERE clause for rows strictly after ``cursor`` in (key, id) order."""
    if cursor is None:
        return sa.true()
    if cursor.key is None:
        return id_col < cursor.id if descending else id_col > cursor.id
    if descending:
        return sa.or_(key_col < cursor.key, sa.and_(key_col == cursor.key, id_col < cursor.id))
    return sa.or_(key_col > cursor.key, sa.and_(key_col == cursor.key, id_col > cursor.id))


# ---- pages ---------------------------------------------------------------------------------------


def page_of(rows: list[Any], size: int, cursor_of: Callable[[Any], str]) -> Page[Any]:
    """Rows fetched with ``limit(size + 1)`` as a page, the next cursor naming its last row."""
    has_more = len(rows) > size
    rows = rows[:size]
    return Page(rows, has_more, cursor_of(rows[-1]) if has_more and rows else None)


async def paginate(
    session: AsyncSession,
    stmt: sa.Select[Any],
    id_column: Any,
    page: PageRequest,
    *,
    newest_first: bool = False,
    key_attr: str = "id",
    scalars: bool = True,
) -> Page[Any]:
    """Run ``stmt`` ordered by ``id_column`` from the cursor on; rows come back as scalars, or, with
    ``scalars=False``, as rows (of columns, the key among them)."""
    if page.after is not None:
        stmt = stmt.where(rows_after(None, id_column, SortCursor(None, page.after), descending=newest_first))
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column.asc()).limit(page.size + 1)
    if scalars:
        items = list((await session.scalars(stmt)).all())
        return page_of(items, page.size, lambda item: encode_cursor(getattr(item, key_attr)))
    rows = list((await session.execute(stmt)).all())
    return page_of(rows, page.size, lambda row: encode_cursor(getattr(row, key_attr)))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
