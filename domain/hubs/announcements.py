"""Staff announcements to a hub: a live ``announcement.created`` event on ``hub:{id}``.

Announcements are not stored yet (no table): the event, with its history on the channel, is the
record. They are published after the request's transaction commits, like every event.
"""

from __future__ import annotations

from datetime import datetime

from domain.context import Ctx
from domain.errors import ValidationFailed
from domain.events import AnnouncementCreated, emit, hub_channel
from persistence.ids import new_id
from persistence.models import Hub

MAX_TITLE = 200
MAX_BODY = 20_000


def announce(ctx: Ctx, hub: Hub, *, title: str, body: str) -> AnnouncementCreated:
    """Announce ``title``/``body`` to everyone connected to ``hub`` (after commit)."""
    title, body = title.strip(), body.strip()
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(f"A title of 1 to {MAX_TITLE} characters is required.", code="invalid_title",
                               field="title")
    if not body or len(body) > MAX_BODY:
        raise ValidationFailed(f"A body of 1 to {MAX_BODY} characters is required.", code="invalid_body",
                               field="body")
    now: datetime = ctx.now()
    event = AnnouncementCreated(id=str(new_id()), hub_id=str(hub.id), title=title, body=body, created_at=now)
    emit(ctx.uow, hub_channel(hub.id), "announcement.created", event, now)
    return event
