"""Segments (JSON:API type ``segments``), their members and previews of unsaved trees.

The condition tree goes to the domain as decoded JSON (typed ``Any`` here) so that every problem
with it, its shape included, is one ``invalid_segment`` error naming the node; its real structure
is the ``SegmentConditions`` Struct, shown in the response schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from domain.crm.segment_conditions import SegmentConditions
from domain.crm.segments import SegmentMember
from persistence.models import Segment
from persistence.pagination import Page
from server.api.crm.schemas import TeamContactAttributes, TeamContactsResource
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

ConditionsInput = Annotated[Any, msgspec.Meta(
    description="The condition tree {version: 1, logic, groups: [{logic, conditions: [{type, operator, value, "
                "attribute?}]}]}; see the Segments section of docs/api.md.")]


class SegmentAttributes(msgspec.Struct):
    name: str
    description: str | None
    conditions: SegmentConditions
    created_at: datetime
    updated_at: datetime


class SegmentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    conditions: ConditionsInput
    description: str | None = None


class SegmentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | None | msgspec.UnsetType = msgspec.UNSET
    conditions: ConditionsInput | msgspec.UnsetType = msgspec.UNSET


class SegmentsResource(Resource):
    type: Literal["segments"]
    attributes: SegmentAttributes


class SegmentsDocument(Document):
    data: SegmentsResource


class SegmentsListDocument(ListDocument):
    data: list[SegmentsResource]


class SegmentsCreateData(CreateData):
    type: Literal["segments"]
    attributes: SegmentCreate


class SegmentsCreateDocument(Inbound):
    data: SegmentsCreateData


class SegmentsUpdateData(UpdateData):
    type: Literal["segments"]
    attributes: SegmentUpdate


class SegmentsUpdateDocument(Inbound):
    data: SegmentsUpdateData


def segment_resource(team_id: Any, s: Segment) -> SegmentsResource:
    attrs = SegmentAttributes(s.name, s.description, msgspec.convert(s.conditions, SegmentConditions),
                              s.created_at, s.updated_at)
    return SegmentsResource.of(s.id, attrs, self_link=f"/api/v1/teams/{team_id}/segments/{s.id}")


# ---- members of a segment ----------------------------------------------------------------------------
#
# A segment's members are the CRM's ``team_contacts`` resources, every attribute its schema requires;
# the names are the ones the CRM shows (the team contact's, else the contact's).


class SegmentMembersListDocument(ListDocument):
    data: list[TeamContactsResource]


def member_resource(team_id: Any, m: SegmentMember) -> TeamContactsResource:
    tc = m.team_contact
    attrs = TeamContactAttributes(
        email=m.contact.email, contact_id=str(tc.contact_id), first_name=m.first_name, last_name=m.last_name,
        phone=tc.phone, notes=tc.notes, lifecycle_stage=tc.lifecycle_stage, source=tc.source,
        tag_ids=[str(t) for t in m.tag_ids], created_at=tc.created_at, updated_at=tc.updated_at,
        deleted_at=tc.deleted_at,
    )
    return TeamContactsResource.of(tc.id, attrs, self_link=f"/api/v1/teams/{team_id}/contacts/{tc.id}")


class SearchAttributes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    conditions: ConditionsInput
    page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class SegmentSearchesCreateData(CreateData):
    type: Literal["segment_searches"]
    attributes: SearchAttributes


class SegmentSearchesCreateDocument(Inbound):
    data: SegmentSearchesCreateData


class SearchMeta(msgspec.Struct):
    count: int
    has_more: bool


class SearchResultDocument(msgspec.Struct):
    data: list[TeamContactsResource]
    meta: SearchMeta


def search_result(team_id: Any, page: Page[SegmentMember], count: int) -> SearchResultDocument:
    members = [member_resource(team_id, m) for m in page.items]  # not TeamContactsResource: see above
    return SearchResultDocument(data=members, meta=SearchMeta(count, page.has_more))  # type: ignore[arg-type]


class CountAttributes(msgspec.Struct):
    count: int


class SegmentCountsResource(Resource):
    type: Literal["segment_counts"]
    attributes: CountAttributes


class SegmentCountsDocument(Document):
    data: SegmentCountsResource


def count_document(segment_id: Any, count: int) -> SegmentCountsDocument:
    return SegmentCountsDocument(data=SegmentCountsResource.of(segment_id, CountAttributes(count=count)))
