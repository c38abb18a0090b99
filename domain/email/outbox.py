"""The transactional outbox: an email is a row written in the same transaction as the change that
causes it, and the worker sends it only once that transaction has committed."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from persistence.db import UnitOfWork
from persistence.ids import new_id
from persistence.models import EmailOutbox

# The broker channel that wakes email workers (this process's and, with Redis, every instance's).
# It is internal: the realtime gateways never let a client subscribe to it.
WAKE_CHANNEL = "internal:email_outbox"
DEFAULT_SENDER = ""  # stored when no sender is given: the worker uses the server's HUBWIRE_MAIL_FROM


async def enqueue_email(
    uow: UnitOfWork, now: datetime, *, idempotency_key: str, kind: str, to_email: str, subject: str,
    text_body: str, html_body: str | None = None, team_id: uuid.UUID | None = None,
    hub_id: uuid.UUID | None = None, from_email: str | None = None, reply_to: str | None = None,
) -> uuid.UUID | None:
    """Queue an email inside the caller's transaction (due at ``now``); it leaves only if that
    transaction commits.

    ``idempotency_key`` names the message once and for all (``magic_link:<token id>``): enqueuing
    the same key again inserts nothing (insert-on-conflict-do-nothing, so the caller's transaction
    is not disturbed) and returns None; otherwise the new row's id. The key also becomes the
    Message-ID, so the message can be recognised if it is ever delivered twice. ``from_email``
    None means the server's default sender. After commit, the email workers are woken.
    """
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValueError("an idempotency key is 1-200 characters")
    values = {
        "id": new_id(), "idempotency_key": idempotency_key, "team_id": team_id, "hub_id": hub_id, "kind": kind,
        "to_email": to_email, "from_email": from_email or DEFAULT_SENDER, "reply_to": reply_to,
        "subject": subject, "text_body": text_body, "html_body": html_body, "status": "pending", "attempts": 0,
        "next_attempt_at": now, "locked_until": None, "last_error": None, "created_at": now, "sent_at": None,
    }
    dialect = uow.session.bind.dialect.name if uow.session.bind is not None else "sqlite"
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(EmailOutbox)
    stmt = (insert.values(**values)
            .on_conflict_do_nothing(index_elements=[EmailOutbox.idempotency_key])
            .returning(EmailOutbox.id))
    inserted = (await uow.session.execute(stmt)).scalar_one_or_none()
    if inserted is not None:
        uow.publish(WAKE_CHANNEL, b"wake")
    return inserted


async def outbox_row(uow: UnitOfWork, idempotency_key: str) -> EmailOutbox | None:
    """The outbox row for ``idempotency_key``, if any (for status pages and tests)."""
    return await uow.session.scalar(sa.select(EmailOutbox).where(EmailOutbox.idempotency_key == idempotency_key))
