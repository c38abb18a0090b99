"""Email: the outbox, written in the same transaction as the change that causes a message."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column


class EmailOutbox(Base):
    """A message to send, written in the same transaction as the change that causes it. The worker
    sends it after commit; ``idempotency_key`` (also the Message-ID) keeps a retry from sending twice."""

    __tablename__ = "email_outbox"
    __table_args__ = (sa.Index("ix_email_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[uuid.UUID] = id_column()
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    hub_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("hubs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(sa.String(50))
    to_email: Mapped[str] = mapped_column(sa.String(320))
    from_email: Mapped[str] = mapped_column(sa.String(400))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
