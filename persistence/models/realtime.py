"""Realtime: the outbox of live events that could not be published when their transaction committed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base


class RealtimeOutbox(Base):
    """An event (or an access invalidation) whose publish failed after its transaction committed
    (the broker was away). The relay (realtime/outbox.py) publishes the rows in ``id`` order once
    the broker is back and deletes them; nothing is written here while the broker answers."""

    __tablename__ = "realtime_outbox"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    channel: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
