"""The creator's CRM (docs/api.md): team contacts, their tags and attribute values, tags, contact
attribute definitions, and segments. Every handler takes ``team``: another team's record is 404."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.crm import attributes as crm_attributes
from domain.crm import contacts as crm_contacts
from domain.crm import segments
from domain.crm import tags as crm_tags
from persistence.ids import parse_id
from server.api.crm import bulk_schemas as bulk
from server.api.crm import data_rights
from server.api.crm.schemas import (
    CONTACT_FILTERS,
    ContactAttributeOptionsCreateDocument,
    ContactAttributeOptionsDocument,
    ContactAttributeOptionsListDocument,
    ContactAttributesCreateDocument,
    ContactAttributesDocument,
    ContactAttributesListDocument,
    ContactAttributesUpdateDocument,
    ContactAttributeValuesDocument,
    ContactAttributeValuesUpdateDocument,
    ContactTagsCreateDocument,
    ContactTagsDocument,
    OneContactTagDocument,
    TagsCreateDocument,
    TagsDocument,
    TagsListDocument,
    TagsUpdateDocument,
    TeamContactsCreateDocument,
    TeamContactsDocument,
    TeamContactsListDocument,
    TeamContactsUpdateDocument,
    attribute_resource,
    contact_filters,
    contact_tag_resource,
    no_nul,
    option_resource,
    tag_resource,
    team_contact_resource,
    values_document,
)
from server.api.crm.segments_schemas import (
    SearchResultDocument,
    SegmentCountsDocument,
    SegmentMembersListDocument,
    SegmentsCreateDocument,
    SegmentsDocument,
    SegmentSearchesCreateDocument,
    SegmentsListDocument,
    SegmentsUpdateDocument,
    count_document,
    member_resource,
    search_result,
    segment_resource,
)
from server.deps import Context, TeamCtx
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.openapi import existing_or_created
from server.paths import TEAM_PATH


class ContactsController(Controller):
    """``T/contacts``: the team's CRM records, upserted by email, soft deleted and restored."""

    path = TEAM_PATH + "/contacts"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="List team contacts (filter by email, tag, segment, "
         "free text, lifecycle stage; deleted ones with filter[deleted]=true)")
    async def list_contacts(self, request: Request[Any, Any, Any], team: TeamCtx,
                            ctx: Context) -> Response[TeamContactsListDocument]:
        q = parse_list_query(request, CONTACT_FILTERS)
        page = await crm_contacts.list_team_contacts(ctx, team, q.page, contact_filters(q.filters))
        return jsonapi(TeamContactsListDocument.page(
            request, [team_contact_resource(team.team_id, r) for r in page.items], page))

    @post("/", opt={"scope": "contacts:write"}, status_code=200,
          responses=existing_or_created(TeamContactsDocument, primary=200),
          summary="Create or update a team contact by email (201 when created, 200 when it existed)")
    async def upsert_contact(self, data: JSONBody[TeamContactsCreateDocument], team: TeamCtx,
                             ctx: Context) -> Response[TeamContactsDocument]:
        changes = present(data.data.attributes)
        email = changes.pop("email")
        record, created = await crm_contacts.upsert_team_contact(ctx, team, email, changes)
        resource = team_contact_resource(team.team_id, record)
        return jsonapi(TeamContactsDocument(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self} if created else None)

    @get("/{team_contact_id:str}", opt={"scope": "contacts:read"}, summary="Read a team contact")
    async def get_contact(self, team_contact_id: FromPath[str], team: TeamCtx,
                          ctx: Context) -> Response[TeamContactsDocument]:
        record = await crm_contacts.get_team_contact(ctx, team, parse_id(team_contact_id))
        return jsonapi(TeamContactsDocument(data=team_contact_resource(team.team_id, record)))

    @patch("/{team_contact_id:str}", opt={"scope": "contacts:write"}, summary="Update a team contact")
    async def update_contact(self, team_contact_id: FromPath[str], data: JSONBody[TeamContactsUpdateDocument],
                             team: TeamCtx, ctx: Context) -> Response[TeamContactsDocument]:
        check_document_id(data.data.id, team_contact_id)
        record = await crm_contacts.update_team_contact(ctx, team, parse_id(team_contact_id),
                                                        present(data.data.attributes))
        return jsonapi(TeamContactsDocument(data=team_contact_resource(team.team_id, record)))

    @delete("/{team_contact_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Soft delete a team contact (restore brings it back)")
    async def delete_contact(self, team_contact_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await crm_contacts.delete_team_contact(ctx, team, parse_id(team_contact_id))

    @post("/{team_contact_id:str}/restore", opt={"scope": "contacts:write"}, status_code=200,
          summary="Restore a soft-deleted team contact")
    async def restore_contact(self, team_contact_id: FromPath[str], team: TeamCtx,
                              ctx: Context) -> Response[TeamContactsDocument]:
        record = await crm_contacts.restore_team_contact(ctx, team, parse_id(team_contact_id))
        return jsonapi(TeamContactsDocument(data=team_contact_resource(team.team_id, record)))


class TagsController(Controller):
    """``T/tags``: the team's tags, each with the number of live contacts carrying it."""

    path = TEAM_PATH + "/tags"
    tags = ["crm"]

    @get("/", opt={"scope": "tags:read"}, summary="List tags with their contact counts")
    async def list_tags(self, request: Request[Any, Any, Any], team: TeamCtx,
                        ctx: Context) -> Response[TagsListDocument]:
        q = parse_list_query(request, frozenset({"name"}))
        page = await crm_tags.list_tags(ctx, team, q.page, name=no_nul(q.filters).get("name"))
        return jsonapi(TagsListDocument.page(request, [tag_resource(r) for r in page.items], page))

    @post("/", opt={"scope": "tags:write"}, summary="Create a tag (names are unique per team, ignoring case)")
    async def create_tag(self, data: JSONBody[TagsCreateDocument], team: TeamCtx,
                         ctx: Context) -> Response[TagsDocument]:
        a = data.data.attributes
        record = await crm_tags.create_tag(ctx, team, name=a.name, color=a.color, description=a.description)
        resource = tag_resource(record)
        return jsonapi(TagsDocument(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{tag_id:str}", opt={"scope": "tags:read"}, summary="Read a tag")
    async def get_tag(self, tag_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[TagsDocument]:
        return jsonapi(TagsDocument(data=tag_resource(await crm_tags.get_tag(ctx, team, parse_id(tag_id)))))

    @patch("/{tag_id:str}", opt={"scope": "tags:write"}, summary="Rename, recolor or describe a tag")
    async def update_tag(self, tag_id: FromPath[str], data: JSONBody[TagsUpdateDocument],
                         team: TeamCtx, ctx: Context) -> Response[TagsDocument]:
        check_document_id(data.data.id, tag_id)
        record = await crm_tags.update_tag(ctx, team, parse_id(tag_id), present(data.data.attributes))
        return jsonapi(TagsDocument(data=tag_resource(record)))

    @delete("/{tag_id:str}", opt={"scope": "tags:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a tag (it comes off every contact)")
    async def delete_tag(self, tag_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await crm_tags.delete_tag(ctx, team, parse_id(tag_id))


class ContactTagsController(Controller):
    """``T/contacts/{team_contact_id}/tags``: putting tags on a contact and taking them off
    (a change to the contact, so ``contacts:write``)."""

    path = TEAM_PATH + "/contacts/{team_contact_id:str}/tags"
    tags = ["crm"]

    @post("/", opt={"scope": "contacts:write"}, status_code=200,
          responses=existing_or_created(OneContactTagDocument, primary=200),
          summary="Tag a contact (idempotent: 201 when newly tagged, 200 when it already was)")
    async def assign_tag(self, team_contact_id: FromPath[str], data: JSONBody[ContactTagsCreateDocument],
                         team: TeamCtx, ctx: Context) -> Response[OneContactTagDocument]:
        assignment, created = await crm_tags.assign_tag(ctx, team, parse_id(team_contact_id),
                                                        data.data.attributes.tag_id)
        return jsonapi(ContactTagsDocument(data=contact_tag_resource(team.team_id, assignment)),
                       201 if created else 200)

    @post("/bulk", opt={"scope": "contacts:write"}, status_code=200,
          summary="Tag a contact with several tags, all or nothing")
    async def assign_tags(self, team_contact_id: FromPath[str], data: JSONBody[bulk.ContactTagBulkDocument],
                          team: TeamCtx, ctx: Context) -> Response[bulk.ManyContactTagsDocument]:
        assignments = await crm_tags.assign_tags(ctx, team, parse_id(team_contact_id),
                                                 data.data.attributes.tag_ids)
        return jsonapi(bulk.ContactTagsDocument(data=[contact_tag_resource(team.team_id, a) for a in assignments]))

    @delete("/{tag_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Take a tag off a contact (idempotent)")
    async def remove_tag(self, team_contact_id: FromPath[str], tag_id: FromPath[str], team: TeamCtx,
                         ctx: Context) -> None:
        await crm_tags.remove_tag(ctx, team, parse_id(team_contact_id), parse_id(tag_id))


class ContactAttributesController(Controller):
    """``T/contact-attributes``: typed field definitions and their select options."""

    path = TEAM_PATH + "/contact-attributes"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="List contact attribute definitions with their options")
    async def list_attributes(self, request: Request[Any, Any, Any], team: TeamCtx,
                              ctx: Context) -> Response[ContactAttributesListDocument]:
        q = parse_list_query(request)
        page = await crm_attributes.list_attributes(ctx, team, q.page)
        return jsonapi(ContactAttributesListDocument.page(
            request, [attribute_resource(team.team_id, r) for r in page.items], page))

    @post("/", opt={"scope": "contacts:write"},
          summary="Define a contact attribute (text, number, date, boolean, select, multi_select)")
    async def create_attribute(self, data: JSONBody[ContactAttributesCreateDocument], team: TeamCtx,
                               ctx: Context) -> Response[ContactAttributesDocument]:
        a = data.data.attributes
        record = await crm_attributes.create_attribute(
            ctx, team, key=a.key, name=a.name, data_type=a.data_type, description=a.description,
            options=[msgspec.structs.asdict(o) for o in a.options],
        )
        resource = attribute_resource(team.team_id, record)
        return jsonapi(ContactAttributesDocument(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{attribute_id:str}", opt={"scope": "contacts:read"}, summary="Read a contact attribute definition")
    async def get_attribute(self, attribute_id: FromPath[str], team: TeamCtx,
                            ctx: Context) -> Response[ContactAttributesDocument]:
        record = await crm_attributes.get_attribute(ctx, team, parse_id(attribute_id))
        return jsonapi(ContactAttributesDocument(data=attribute_resource(team.team_id, record)))

    @patch("/{attribute_id:str}", opt={"scope": "contacts:write"},
           summary="Rename or re-describe a definition (key and data type are fixed)")
    async def update_attribute(self, attribute_id: FromPath[str], data: JSONBody[ContactAttributesUpdateDocument],
                               team: TeamCtx, ctx: Context) -> Response[ContactAttributesDocument]:
        check_document_id(data.data.id, attribute_id)
        record = await crm_attributes.update_attribute(ctx, team, parse_id(attribute_id), present(data.data.attributes))
        return jsonapi(ContactAttributesDocument(data=attribute_resource(team.team_id, record)))

    @delete("/{attribute_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a definition, its options and every contact's value for it")
    async def delete_attribute(self, attribute_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await crm_attributes.delete_attribute(ctx, team, parse_id(attribute_id))

    @get("/{attribute_id:str}/options", opt={"scope": "contacts:read"}, summary="List a definition's options")
    async def list_options(self, request: Request[Any, Any, Any], attribute_id: FromPath[str], team: TeamCtx,
                           ctx: Context) -> Response[ContactAttributeOptionsListDocument]:
        q = parse_list_query(request)
        page = await crm_attributes.list_options(ctx, team, parse_id(attribute_id), q.page)
        return jsonapi(ContactAttributeOptionsListDocument.page(request, [option_resource(o) for o in page.items],
                                                                page))

    @post("/{attribute_id:str}/options", opt={"scope": "contacts:write"},
          summary="Add an option to a select or multi_select definition")
    async def add_option(self, attribute_id: FromPath[str], data: JSONBody[ContactAttributeOptionsCreateDocument],
                         team: TeamCtx, ctx: Context) -> Response[ContactAttributeOptionsDocument]:
        a = data.data.attributes
        option = await crm_attributes.add_option(ctx, team, parse_id(attribute_id), value=a.value, label=a.label,
                                                 position=a.position)
        return jsonapi(ContactAttributeOptionsDocument(data=option_resource(option)), 201)


class ContactValuesController(Controller):
    """``T/contacts/{team_contact_id}/attributes``: one contact's attribute values as ``{key: value}``."""

    path = TEAM_PATH + "/contacts/{team_contact_id:str}/attributes"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="Read a contact's attribute values")
    async def get_values(self, team_contact_id: FromPath[str], team: TeamCtx,
                         ctx: Context) -> Response[ContactAttributeValuesDocument]:
        values = await crm_attributes.get_values(ctx, team, parse_id(team_contact_id))
        return jsonapi(values_document(team.team_id, team_contact_id, values))

    @patch("/", opt={"scope": "contacts:write"},
           summary="Set (or with null clear) attribute values, validated against the definitions, all or nothing")
    async def set_values(self, team_contact_id: FromPath[str], data: JSONBody[ContactAttributeValuesUpdateDocument],
                         team: TeamCtx, ctx: Context) -> Response[ContactAttributeValuesDocument]:
        check_document_id(data.data.id, team_contact_id)
        values = await crm_attributes.set_values(ctx, team, parse_id(team_contact_id), data.data.attributes.values)
        return jsonapi(values_document(team.team_id, team_contact_id, values))


class SegmentsController(Controller):
    """``T/segments``: saved condition trees over the team's contacts. Scopes ``segments:read`` and
    ``segments:write``; another team's segment is 404."""

    path = TEAM_PATH + "/segments"
    tags = ["segments"]

    @get("/", opt={"scope": "segments:read"}, summary="List segments")
    async def list_segments(self, request: Request[Any, Any, Any], team: TeamCtx,
                            ctx: Context) -> Response[SegmentsListDocument]:
        q = parse_list_query(request)
        page = await segments.list_segments(ctx, team, q.page)
        return jsonapi(SegmentsListDocument.page(request, [segment_resource(team.team_id, s) for s in page.items],
                                                 page))

    @post("/", opt={"scope": "segments:write"}, summary="Create a segment (its conditions validated in full)")
    async def create_segment(self, data: JSONBody[SegmentsCreateDocument], team: TeamCtx,
                             ctx: Context) -> Response[SegmentsDocument]:
        a = data.data.attributes
        s = await segments.create_segment(ctx, team, name=a.name, description=a.description,
                                          conditions=a.conditions)
        return jsonapi(SegmentsDocument(data=segment_resource(team.team_id, s)), 201,
                       headers={"Location": f"/api/v1/teams/{team.team_id}/segments/{s.id}"})

    @post("/search", opt={"scope": "segments:read"}, status_code=200,
          summary="Preview a condition tree: the first matching team contacts and the total count")
    async def search(self, data: JSONBody[SegmentSearchesCreateDocument], team: TeamCtx,
                     ctx: Context) -> Response[SearchResultDocument]:
        a = data.data.attributes
        page, count = await segments.search_contacts(ctx, team, a.conditions, a.page_size)
        return jsonapi(search_result(team.team_id, page, count))

    @get("/{segment_id:str}", opt={"scope": "segments:read"}, summary="Read a segment")
    async def get_segment(self, segment_id: FromPath[str], team: TeamCtx,
                          ctx: Context) -> Response[SegmentsDocument]:
        s = await segments.get_segment(ctx, team, parse_id(segment_id))
        return jsonapi(SegmentsDocument(data=segment_resource(team.team_id, s)))

    @patch("/{segment_id:str}", opt={"scope": "segments:write"}, summary="Rename, describe or change the conditions")
    async def update_segment(self, segment_id: FromPath[str], data: JSONBody[SegmentsUpdateDocument],
                             team: TeamCtx, ctx: Context) -> Response[SegmentsDocument]:
        check_document_id(data.data.id, segment_id)
        s = await segments.update_segment(ctx, team, parse_id(segment_id), **present(data.data.attributes))
        return jsonapi(SegmentsDocument(data=segment_resource(team.team_id, s)))

    @delete("/{segment_id:str}", opt={"scope": "segments:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a segment")
    async def delete_segment(self, segment_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await segments.delete_segment(ctx, team, parse_id(segment_id))

    @get("/{segment_id:str}/members", opt={"scope": "segments:read"},
         summary="Page through the team contacts the segment matches (page[size], page[after])")
    async def list_members(self, request: Request[Any, Any, Any], segment_id: FromPath[str], team: TeamCtx,
                           ctx: Context) -> Response[SegmentMembersListDocument]:
        q = parse_list_query(request)
        page = await segments.segment_members(ctx, team, parse_id(segment_id), q.page)
        return jsonapi(SegmentMembersListDocument.page(
            request, [member_resource(team.team_id, m) for m in page.items], page))

    @get("/{segment_id:str}/members/count", opt={"scope": "segments:read"},
         summary="How many team contacts the segment matches now")
    async def count_members(self, segment_id: FromPath[str], team: TeamCtx,
                            ctx: Context) -> Response[SegmentCountsDocument]:
        sid = parse_id(segment_id)
        return jsonapi(count_document(sid, await segments.count_segment_members(ctx, team, sid)))


ROUTES: list[Any] = [
    ContactsController, ContactTagsController, ContactValuesController, TagsController, ContactAttributesController,
    SegmentsController, *data_rights.ROUTES,
]
