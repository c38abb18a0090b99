"""Statements built once per database dialect, for the few places where the best SQL differs.

A list of ids bound at execution (``WHERE target_id IN (...)``) is the main case. SQLAlchemy renders
an expanding ``IN`` anew for every execution, with one placeholder per id, so each page size is a
statement of its own for PostgreSQL. On PostgreSQL the same condition is ``= ANY(:ids)``, with
one array parameter: compiled once, prepared once, and cheaper to run (bench/README.md, REST
throughput). SQLite has no arrays and keeps the expanding ``IN``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

T = TypeVar("T")


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the dialect of the engine ``session`` is bound to."""
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def in_ids(column: QueryableAttribute[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the ids bound as ``name`` (a list) at execution."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


class PerDialect(Generic[T]):
    """A statement built on first use for each dialect, then kept (its cache key with it)."""

    def __init__(self, build: Callable[[str], T]) -> None:
        self._build = build
        self._built: dict[str, T] = {}

    def __call__(self, session: AsyncSession) -> T:
        dialect = dialect_of(session)
        built = self._built.get(dialect)
        if built is None:
            built = self._built[dialect] = self._build(dialect)
        return built
