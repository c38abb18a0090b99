"""Realtime's JSON:API types (hub presence, announcements) and the mappers that fill them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

from domain.events import AnnouncementCreated
from server.jsonapi import CreateData, Document, Inbound, Resource

# ---- hub presence -----------------------------------------------------------------------------------


class PresenceAttributes(msgspec.Struct):
    hub_id: str
    online: list[str]
    count: int


class HubPresenceResource(Resource):
    type: Literal["hub_presence"]
    attributes: PresenceAttributes


class HubPresenceDocument(Document):
    data: HubPresenceResource


def presence_document(hub_id: uuid.UUID, online: list[str]) -> HubPresenceDocument:
    """Who is online in the hub (contact ids), as the ``hub_presence`` resource of the hub's id."""
    return HubPresenceDocument(data=HubPresenceResource.of(hub_id, PresenceAttributes(str(hub_id), online,
                                                                                       len(online))))


# ---- announcements ----------------------------------------------------------------------------------


class AnnouncementAttributes(msgspec.Struct):
    hub_id: str
    title: str
    body: str
    created_at: datetime


class AnnouncementCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str


class AnnouncementsResource(Resource):
    type: Literal["announcements"]
    attributes: AnnouncementAttributes


class AnnouncementsDocument(Document):
    data: AnnouncementsResource


class AnnouncementsCreateData(CreateData):
    type: Literal["announcements"]
    attributes: AnnouncementCreate


class AnnouncementsCreateDocument(Inbound):
    data: AnnouncementsCreateData


def announcement_document(ev: AnnouncementCreated) -> AnnouncementsDocument:
    """The announcement just made, as the ``announcements`` resource."""
    return AnnouncementsDocument(data=AnnouncementsResource.of(
        ev.id, AnnouncementAttributes(ev.hub_id, ev.title, ev.body, ev.created_at)))
