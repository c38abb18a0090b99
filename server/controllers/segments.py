"""Segments (JSON:API type ``segments``), their members and previews of unsaved trees.

The condition tree goes to the domain as decoded JSON (typed ``Any`` here) so that every problem
with it, its shape included, is one ``invalid_segment`` error naming the node; its real structure
is the ``SegmentConditions`` Struct, shown in the response schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.crm import segments
from domain.crm.segments import SegmentConditions, SegmentMember
from domain.ids import parse_id
from persistence.models import Segment
from server.controllers.teams import TEAM_PATH
from server.deps import TeamCtx, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_list_query, resource_types

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


SEGMENTS = resource_types("segments", SegmentAttributes, SegmentCreate, SegmentUpdate)


class MemberAttributes(msgspec.Struct):
    contact_id: str
    email: str
    first_name: str | None
    last_name: str | None
    lifecycle_stage: str
    created_at: datetime


TEAM_CONTACTS = resource_types("team_contacts", MemberAttributes)


class SearchAttributes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    conditions: ConditionsInput
    page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


SEARCHES = resource_types("segment_searches", SearchAttributes, SearchAttributes)


class SearchMeta(msgspec.Struct):
    count: int
    has_more: bool


class SearchResultDocument(msgspec.Struct):
    data: list[TEAM_CONTACTS.Resource]  # type: ignore[name-defined]
    meta: SearchMeta


class CountAttributes(msgspec.Struct):
    count: int


COUNTS = resource_types("segment_counts", CountAttributes)


def segment_resource(team_id: Any, s: Segment) -> Any:
    attrs = SegmentAttributes(s.name, s.description, msgspec.convert(s.conditions, SegmentConditions),
                              s.created_at, s.updated_at)
    return SEGMENTS.resource(s.id, attrs, self_link=f"/api/v1/teams/{team_id}/segments/{s.id}")


def member_resource(team_id: Any, m: SegmentMember) -> Any:
    tc = m.team_contact
    attrs = MemberAttributes(str(tc.contact_id), m.contact.email, m.first_name, m.last_name, tc.lifecycle_stage,
                             tc.created_at)
    return TEAM_CONTACTS.resource(tc.id, attrs, self_link=f"/api/v1/teams/{team_id}/contacts/{tc.id}")


class SegmentsController(Controller):
    """``T/segments``: saved condition trees over the team's contacts. Scopes ``segments:read`` and
    ``segments:write``; another team's segment is 404."""

    path = TEAM_PATH + "/segments"
    tags = ["segments"]

    @get("/", opt={"scope": "segments:read"}, summary="List segments")
    async def list_segments(self, request: Request[Any, Any, Any], team: TeamCtx,
                            uow: Uow) -> Response[SEGMENTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await segments.list_segments(uow, team.team_id, q.page)
        return jsonapi(SEGMENTS.list_document(request, [segment_resource(team.team_id, s) for s in page.items], page))

    @post("/", opt={"scope": "segments:write"}, summary="Create a segment (its conditions validated in full)")
    async def create_segment(self, data: JSONBody[SEGMENTS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                             state: State, uow: Uow) -> Response[SEGMENTS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        s = await segments.create_segment(uow, services_of(state).clock, team.team_id, name=a.name,
                                          description=a.description, conditions=a.conditions)
        return jsonapi(SEGMENTS.Document(data=segment_resource(team.team_id, s)), 201,
                       headers={"Location": f"/api/v1/teams/{team.team_id}/segments/{s.id}"})

    @post("/search", opt={"scope": "segments:read"}, status_code=200,
          summary="Preview a condition tree: the first matching team contacts and the total count")
    async def search(self, data: JSONBody[SEARCHES.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                     uow: Uow) -> Response[SearchResultDocument]:
        a = data.data.attributes
        page, count = await segments.search_contacts(uow, team.team_id, a.conditions, a.page_size)
        return jsonapi(SearchResultDocument(
            data=[member_resource(team.team_id, m) for m in page.items],
            meta=SearchMeta(count=count, has_more=page.has_more),
        ))

    @get("/{segment_id:str}", opt={"scope": "segments:read"}, summary="Read a segment")
    async def get_segment(self, segment_id: FromPath[str], team: TeamCtx,
                          uow: Uow) -> Response[SEGMENTS.Document]:  # type: ignore[name-defined]
        s = await segments.get_segment(uow, team.team_id, parse_id(segment_id))
        return jsonapi(SEGMENTS.Document(data=segment_resource(team.team_id, s)))

    @patch("/{segment_id:str}", opt={"scope": "segments:write"}, summary="Rename, describe or change the conditions")
    async def update_segment(self, segment_id: FromPath[str], data: JSONBody[SEGMENTS.UpdateDocument],  # type: ignore[name-defined]
                             team: TeamCtx, state: State, uow: Uow) -> Response[SEGMENTS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, segment_id)
        a = data.data.attributes
        changes = {k: getattr(a, k) for k in ("name", "description", "conditions")
                   if getattr(a, k) is not msgspec.UNSET}
        s = await segments.update_segment(uow, services_of(state).clock, team.team_id, parse_id(segment_id),
                                          **changes)
        return jsonapi(SEGMENTS.Document(data=segment_resource(team.team_id, s)))

    @delete("/{segment_id:str}", opt={"scope": "segments:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a segment")
    async def delete_segment(self, segment_id: FromPath[str], team: TeamCtx, uow: Uow) -> None:
        await segments.delete_segment(uow, team.team_id, parse_id(segment_id))

    @get("/{segment_id:str}/members", opt={"scope": "segments:read"},
         summary="Page through the team contacts the segment matches (page[size], page[after])")
    async def list_members(self, request: Request[Any, Any, Any], segment_id: FromPath[str], team: TeamCtx,
                           uow: Uow) -> Response[TEAM_CONTACTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await segments.segment_members(uow, team.team_id, parse_id(segment_id), q.page)
        return jsonapi(TEAM_CONTACTS.list_document(request, [member_resource(team.team_id, m) for m in page.items],
                                                   page))

    @get("/{segment_id:str}/members/count", opt={"scope": "segments:read"},
         summary="How many team contacts the segment matches now")
    async def count_members(self, segment_id: FromPath[str], team: TeamCtx,
                            uow: Uow) -> Response[COUNTS.Document]:  # type: ignore[name-defined]
        sid = parse_id(segment_id)
        n = await segments.count_segment_members(uow, team.team_id, sid)
        return jsonapi(COUNTS.document(sid, CountAttributes(count=n)))


ROUTES: list[Any] = [SegmentsController]
