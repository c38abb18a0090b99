"""What every model shares: the declarative base, the constraint naming convention the migrations
were generated with, the column types Python annotations map to, and the primary key column."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from persistence.ids import new_id
from persistence.types import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[str]: JSONType}


def id_column() -> Mapped[uuid.UUID]:
    """A time-ordered UUID primary key (UUIDv7, persistence/ids.py), set when the row is created."""
    return mapped_column(sa.Uuid(), primary_key=True, default=new_id)
