"""Spaces and who is in them: JSON:API types ``spaces`` and ``space_members``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.community.spaces import MemberSpace
from persistence.models import Space, SpaceMember
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class SpaceAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    name: str
    slug: str
    description: str | None
    access_level: str
    posting_permission: str
    segment_id: str | None
    is_pinned: bool
    is_default: bool
    position: int
    created_at: datetime
    updated_at: datetime
    # member side only: whether the caller may enter (and why not), and their place in it
    locked: bool | Unset = UNSET
    lock_reason: str | None | Unset = UNSET
    joined: bool | Unset = UNSET
    muted: bool | Unset = UNSET
    last_read_at: datetime | None | Unset = UNSET
    unread_count: int | None | Unset = UNSET


class SpaceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    slug: str | None = None
    description: str | None = None
    access_level: Literal["open", "private", "secret"] = "open"
    posting_permission: Literal["members", "moderators"] = "members"
    segment_id: str | None = None
    is_pinned: bool = False
    is_default: bool = False
    position: int = 0


class SpaceUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | Unset = UNSET
    slug: str | Unset = UNSET
    description: str | None | Unset = UNSET
    access_level: Literal["open", "private", "secret"] | Unset = UNSET
    posting_permission: Literal["members", "moderators"] | Unset = UNSET
    segment_id: str | None | Unset = UNSET
    is_pinned: bool | Unset = UNSET
    is_default: bool | Unset = UNSET
    position: int | Unset = UNSET


class SpacesResource(Resource):
    type: Literal["spaces"]
    attributes: SpaceAttributes


class SpacesDocument(Document):
    data: SpacesResource


class SpacesListDocument(ListDocument):
    data: list[SpacesResource]


class SpacesCreateData(CreateData):
    type: Literal["spaces"]
    attributes: SpaceCreate


class SpacesCreateDocument(Inbound):
    data: SpacesCreateData


class SpacesUpdateData(UpdateData):
    type: Literal["spaces"]
    attributes: SpaceUpdate


class SpacesUpdateDocument(Inbound):
    data: SpacesUpdateData


def _space_attrs(s: Space, **member: Any) -> SpaceAttributes:
    return SpaceAttributes(
        hub_id=str(s.hub_id), name=s.name, slug=s.slug, description=s.description, access_level=s.access_level,
        posting_permission=s.posting_permission, segment_id=str(s.segment_id) if s.segment_id else None,
        is_pinned=s.is_pinned, is_default=s.is_default, position=s.position, created_at=s.created_at,
        updated_at=s.updated_at, **member)


def team_space_resource(s: Space, team_id: Any) -> SpacesResource:
    return SpacesResource.of(s.id, _space_attrs(s),
                             self_link=f"/api/v1/teams/{team_id}/hubs/{s.hub_id}/spaces/{s.id}")


def member_space_resource(v: MemberSpace) -> SpacesResource:
    sm = v.membership
    attrs = _space_attrs(v.space, locked=v.locked, lock_reason=None if v.decision.allowed else v.decision.reason,
                         joined=sm is not None, muted=bool(sm and sm.muted_at), last_read_at=sm.last_read_at if sm else None,
                         unread_count=v.unread_count)
    return SpacesResource.of(v.space.id, attrs, self_link=f"/api/v1/hub/{v.space.hub_id}/spaces/{v.space.id}")


def member_space_document(v: MemberSpace) -> SpacesDocument:
    return SpacesDocument(data=member_space_resource(v))


# ---- who is in a space ------------------------------------------------------------------------------


class SpaceMemberAttributes(msgspec.Struct):
    space_id: str
    contact_id: str
    created_at: datetime
    muted_at: datetime | None
    last_read_at: datetime | None


class SpaceMemberCreate(msgspec.Struct, forbid_unknown_fields=True):
    contact_id: str


class SpaceMembersResource(Resource):
    type: Literal["space_members"]
    attributes: SpaceMemberAttributes


class SpaceMembersDocument(Document):
    data: SpaceMembersResource


class SpaceMembersListDocument(ListDocument):
    data: list[SpaceMembersResource]


class SpaceMembersCreateData(CreateData):
    type: Literal["space_members"]
    attributes: SpaceMemberCreate


class SpaceMembersCreateDocument(Inbound):
    data: SpaceMembersCreateData


def space_member_resource(sm: SpaceMember) -> SpaceMembersResource:
    return SpaceMembersResource.of(f"{sm.space_id}:{sm.contact_id}", SpaceMemberAttributes(
        str(sm.space_id), str(sm.contact_id), sm.created_at, sm.muted_at, sm.last_read_at))
