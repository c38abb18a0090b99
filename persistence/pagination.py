"""Keyset (cursor) pagination over time-ordered ids: stable under concurrent inserts."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_SIZE = 20
MAX_SIZE = 100


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


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError):
        raise InvalidPageRequest(
            "page[after] is not a cursor this server issued.", code="invalid_cursor", parameter="page[after]"
        ) from None


async def paginate(
    session: AsyncSession,
    stmt: sa.Select[Any],
    id_column: Any,
    page: PageRequest,
    *,
    newest_first: bool = False,
    key_attr: str = "id",
) -> Page[Any]:
    """Run ``stmt`` ordered by ``id_column`` from the cursor on; rows come back as scalars."""
    if page.after is not None:
        stmt = stmt.where(id_column < page.after if newest_first else id_column > page.after)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column.asc()).limit(page.size + 1)
    rows = list((await session.scalars(stmt)).all())
    has_more = len(rows) > page.size
    rows = rows[: page.size]
    next_cursor = encode_cursor(getattr(rows[-1], key_attr)) if has_more and rows else None
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)
