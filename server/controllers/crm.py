"""The creator's CRM (see shared/API.md): team contacts (``team_contacts``), tags (``tags``,
``contact_tags``), contact attribute definitions (``contact_attributes``,
``contact_attribute_options``) and values (``contact_attribute_values``).

Team routes address contacts by team contact id; every document also carries the global
``contact_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.crm import attributes as crm_attributes
from domain.crm import contacts as crm_contacts
from domain.crm import tags as crm_tags
from domain.crm.attributes import AttributeRecord
from domain.crm.contacts import ContactFilters, TeamContactRecord
from domain.crm.tags import Assignment, TagRecord
from domain.errors import NotFound, ValidationFailed
from domain.ids import parse_id
from persistence.models import ContactAttributeOption
from server.controllers.teams import TEAM_PATH
from server.deps import TeamCtx, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_bool_filter, parse_list_query, resource_types

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


def _text(n: int) -> Any:
    return Annotated[str, msgspec.Meta(max_length=n)]


Id = _text(64)
Email = _text(320)
Name = _text(100)
Phone = _text(50)
Notes = _text(10_000)
Source = _text(100)
Stage = _text(20)
Description = _text(500)


def _given(attrs: msgspec.Struct) -> dict[str, Any]:
    """The attributes the client sent (``UNSET`` ones left out; ``None`` kept: it clears)."""
    return {f: v for f in attrs.__struct_fields__ if (v := getattr(attrs, f)) is not UNSET}


# ---- team contacts ---------------------------------------------------------------------------------


class TeamContactAttributes(msgspec.Struct):
    email: str
    contact_id: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    notes: str | None
    lifecycle_stage: str
    source: str | None
    tag_ids: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class TeamContactUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    first_name: Name | None | Unset = UNSET  # type: ignore[valid-type]
    last_name: Name | None | Unset = UNSET  # type: ignore[valid-type]
    phone: Phone | None | Unset = UNSET  # type: ignore[valid-type]
    notes: Notes | None | Unset = UNSET  # type: ignore[valid-type]
    lifecycle_stage: Stage | Unset = UNSET  # type: ignore[valid-type]
    source: Source | None | Unset = UNSET  # type: ignore[valid-type]


class TeamContactCreate(TeamContactUpdate, forbid_unknown_fields=True, kw_only=True):
    email: Email  # type: ignore[valid-type]


TEAM_CONTACTS = resource_types("team_contacts", TeamContactAttributes, TeamContactCreate, TeamContactUpdate)
CONTACT_FILTERS = frozenset({"email", "tag", "q", "lifecycle_stage", "segment", "deleted"})


def team_contact_resource(team_id: Any, r: TeamContactRecord) -> Any:
    tc = r.team_contact
    attrs = TeamContactAttributes(
        email=r.email, contact_id=str(tc.contact_id), first_name=tc.first_name, last_name=tc.last_name,
        phone=tc.phone, notes=tc.notes, lifecycle_stage=tc.lifecycle_stage, source=tc.source,
        tag_ids=[str(t) for t in r.tag_ids], created_at=tc.created_at, updated_at=tc.updated_at,
        deleted_at=tc.deleted_at,
    )
    return TEAM_CONTACTS.resource(tc.id, attrs, self_link=f"/api/v1/teams/{team_id}/contacts/{tc.id}")


def no_nul(filters: dict[str, str]) -> dict[str, str]:
    """Refuse a NUL character in a filter: PostgreSQL cannot compare text holding one."""
    for name, value in filters.items():
        if "\x00" in value:
            raise ValidationFailed("A filter may not contain the NUL character.", code="invalid_filter",
                                   parameter=f"filter[{name}]")
    return filters


def contact_filters(filters: dict[str, str]) -> ContactFilters:
    tag_id = None
    if "tag" in filters:
        tag_id = parse_id(filters["tag"])
        if tag_id is None:
            raise ValidationFailed("filter[tag] is a tag id.", code="invalid_filter", parameter="filter[tag]")
    segment_id = None
    if "segment" in filters:
        segment_id = parse_id(filters["segment"])
        if segment_id is None:
            raise NotFound("Segment not found.")
    return ContactFilters(email=filters.get("email"), tag_id=tag_id, q=filters.get("q"),
                          lifecycle_stage=filters.get("lifecycle_stage"), segment_id=segment_id,
                          deleted=bool(parse_bool_filter(filters, "deleted")))


class ContactsController(Controller):
    """``T/contacts``: the team's CRM records, upserted by email, soft deleted and restored."""

    path = TEAM_PATH + "/contacts"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="List team contacts (filter by email, tag, segment, "
         "free text, lifecycle stage; deleted ones with filter[deleted]=true)")
    async def list_contacts(self, request: Request[Any, Any, Any], team: TeamCtx,
                            uow: Uow) -> Response[TEAM_CONTACTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, CONTACT_FILTERS)
        page = await crm_contacts.list_team_contacts(uow, team, q.page, contact_filters(no_nul(q.filters)))
        return jsonapi(TEAM_CONTACTS.list_document(
            request, [team_contact_resource(team.team_id, r) for r in page.items], page))

    @post("/", opt={"scope": "contacts:write"}, status_code=200,
          summary="Create or update a team contact by email (201 when created, 200 when it existed)")
    async def upsert_contact(self, data: JSONBody[TEAM_CONTACTS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                             state: State, uow: Uow) -> Response[TEAM_CONTACTS.Document]:  # type: ignore[name-defined]
        changes = _given(data.data.attributes)
        email = changes.pop("email")
        record, created = await crm_contacts.upsert_team_contact(uow, services_of(state).clock, team, email, changes)
        resource = team_contact_resource(team.team_id, record)
        return jsonapi(TEAM_CONTACTS.Document(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self} if created else None)

    @get("/{team_contact_id:str}", opt={"scope": "contacts:read"}, summary="Read a team contact")
    async def get_contact(self, team_contact_id: FromPath[str], team: TeamCtx,
                          uow: Uow) -> Response[TEAM_CONTACTS.Document]:  # type: ignore[name-defined]
        record = await crm_contacts.get_team_contact(uow, team, parse_id(team_contact_id))
        return jsonapi(TEAM_CONTACTS.Document(data=team_contact_resource(team.team_id, record)))

    @patch("/{team_contact_id:str}", opt={"scope": "contacts:write"}, summary="Update a team contact")
    async def update_contact(self, team_contact_id: FromPath[str],
                             data: JSONBody[TEAM_CONTACTS.UpdateDocument],  # type: ignore[name-defined]
                             team: TeamCtx, state: State, uow: Uow) -> Response[TEAM_CONTACTS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, team_contact_id)
        record = await crm_contacts.update_team_contact(uow, services_of(state).clock, team, parse_id(team_contact_id),
                                                        _given(data.data.attributes))
        return jsonapi(TEAM_CONTACTS.Document(data=team_contact_resource(team.team_id, record)))

    @delete("/{team_contact_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Soft delete a team contact (restore brings it back)")
    async def delete_contact(self, team_contact_id: FromPath[str], team: TeamCtx, state: State, uow: Uow) -> None:
        await crm_contacts.delete_team_contact(uow, services_of(state).clock, team, parse_id(team_contact_id))

    @post("/{team_contact_id:str}/restore", opt={"scope": "contacts:write"}, status_code=200,
          summary="Restore a soft-deleted team contact")
    async def restore_contact(self, team_contact_id: FromPath[str], team: TeamCtx, state: State,
                              uow: Uow) -> Response[TEAM_CONTACTS.Document]:  # type: ignore[name-defined]
        record = await crm_contacts.restore_team_contact(uow, services_of(state).clock, team, parse_id(team_contact_id))
        return jsonapi(TEAM_CONTACTS.Document(data=team_contact_resource(team.team_id, record)))


# ---- tags ------------------------------------------------------------------------------------------


class TagAttributes(msgspec.Struct):
    name: str
    color: str | None
    description: str | None
    contact_count: int
    created_at: datetime
    updated_at: datetime


class TagCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name  # type: ignore[valid-type]
    color: Stage | None = None  # type: ignore[valid-type]
    description: Description | None = None  # type: ignore[valid-type]


class TagUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | Unset = UNSET  # type: ignore[valid-type]
    color: Stage | None | Unset = UNSET  # type: ignore[valid-type]
    description: Description | None | Unset = UNSET  # type: ignore[valid-type]


TAGS = resource_types("tags", TagAttributes, TagCreate, TagUpdate)


def tag_resource(r: TagRecord) -> Any:
    t = r.tag
    attrs = TagAttributes(t.name, t.color, t.description, r.contact_count, t.created_at, t.updated_at)
    return TAGS.resource(t.id, attrs, self_link=f"/api/v1/teams/{t.team_id}/tags/{t.id}")


class TagsController(Controller):
    """``T/tags``: the team's tags, each with the number of live contacts carrying it."""

    path = TEAM_PATH + "/tags"
    tags = ["crm"]

    @get("/", opt={"scope": "tags:read"}, summary="List tags with their contact counts")
    async def list_tags(self, request: Request[Any, Any, Any], team: TeamCtx,
                        uow: Uow) -> Response[TAGS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"name"}))
        page = await crm_tags.list_tags(uow, team, q.page, name=no_nul(q.filters).get("name"))
        return jsonapi(TAGS.list_document(request, [tag_resource(r) for r in page.items], page))

    @post("/", opt={"scope": "tags:write"}, summary="Create a tag (names are unique per team, ignoring case)")
    async def create_tag(self, data: JSONBody[TAGS.CreateDocument], team: TeamCtx, state: State,  # type: ignore[name-defined]
                         uow: Uow) -> Response[TAGS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        record = await crm_tags.create_tag(uow, services_of(state).clock, team, name=a.name, color=a.color,
                                           description=a.description)
        resource = tag_resource(record)
        return jsonapi(TAGS.Document(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{tag_id:str}", opt={"scope": "tags:read"}, summary="Read a tag")
    async def get_tag(self, tag_id: FromPath[str], team: TeamCtx, uow: Uow) -> Response[TAGS.Document]:  # type: ignore[name-defined]
        return jsonapi(TAGS.Document(data=tag_resource(await crm_tags.get_tag(uow, team, parse_id(tag_id)))))

    @patch("/{tag_id:str}", opt={"scope": "tags:write"}, summary="Rename, recolor or describe a tag")
    async def update_tag(self, tag_id: FromPath[str], data: JSONBody[TAGS.UpdateDocument],  # type: ignore[name-defined]
                         team: TeamCtx, state: State, uow: Uow) -> Response[TAGS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, tag_id)
        record = await crm_tags.update_tag(uow, services_of(state).clock, team, parse_id(tag_id),
                                           _given(data.data.attributes))
        return jsonapi(TAGS.Document(data=tag_resource(record)))

    @delete("/{tag_id:str}", opt={"scope": "tags:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a tag (it comes off every contact)")
    async def delete_tag(self, tag_id: FromPath[str], team: TeamCtx, uow: Uow) -> None:
        await crm_tags.delete_tag(uow, team, parse_id(tag_id))


class ContactTagAttributes(msgspec.Struct):
    team_contact_id: str
    tag_id: str
    created_at: datetime


class ContactTagCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tag_id: Id  # type: ignore[valid-type]


CONTACT_TAGS = resource_types("contact_tags", ContactTagAttributes, ContactTagCreate)


class ContactTagBulkAttributes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tag_ids: Annotated[list[Id], msgspec.Meta(max_length=crm_tags.MAX_BULK)]  # type: ignore[valid-type]


class ContactTagBulkData(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["contact_tags"]
    attributes: ContactTagBulkAttributes


class ContactTagBulkDocument(msgspec.Struct, forbid_unknown_fields=True):
    data: ContactTagBulkData


class ContactTagsDocument(msgspec.Struct):
    data: list[CONTACT_TAGS.Resource]  # type: ignore[name-defined]


def contact_tag_resource(team_id: Any, a: Assignment) -> Any:
    return CONTACT_TAGS.resource(
        f"{a.team_contact_id}:{a.tag_id}", ContactTagAttributes(str(a.team_contact_id), str(a.tag_id), a.created_at),
        self_link=f"/api/v1/teams/{team_id}/contacts/{a.team_contact_id}/tags/{a.tag_id}",
    )


class ContactTagsController(Controller):
    """``T/contacts/{team_contact_id}/tags``: putting tags on a contact and taking them off
    (a change to the contact, so ``contacts:write``)."""

    path = TEAM_PATH + "/contacts/{team_contact_id:str}/tags"
    tags = ["crm"]

    @post("/", opt={"scope": "contacts:write"}, status_code=200,
          summary="Tag a contact (idempotent: 201 when newly tagged, 200 when it already was)")
    async def assign_tag(self, team_contact_id: FromPath[str], data: JSONBody[CONTACT_TAGS.CreateDocument],  # type: ignore[name-defined]
                         team: TeamCtx, state: State, uow: Uow) -> Response[CONTACT_TAGS.Document]:  # type: ignore[name-defined]
        assignment, created = await crm_tags.assign_tag(uow, services_of(state).clock, team, parse_id(team_contact_id),
                                                        data.data.attributes.tag_id)
        return jsonapi(CONTACT_TAGS.Document(data=contact_tag_resource(team.team_id, assignment)),
                       201 if created else 200)

    @post("/bulk", opt={"scope": "contacts:write"}, status_code=200,
          summary="Tag a contact with several tags, all or nothing")
    async def assign_tags(self, team_contact_id: FromPath[str], data: JSONBody[ContactTagBulkDocument],
                          team: TeamCtx, state: State, uow: Uow) -> Response[ContactTagsDocument]:
        assignments = await crm_tags.assign_tags(uow, services_of(state).clock, team, parse_id(team_contact_id),
                                                 data.data.attributes.tag_ids)
        return jsonapi(ContactTagsDocument(data=[contact_tag_resource(team.team_id, a) for a in assignments]))

    @delete("/{tag_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Take a tag off a contact (idempotent)")
    async def remove_tag(self, team_contact_id: FromPath[str], tag_id: FromPath[str], team: TeamCtx, uow: Uow) -> None:
        await crm_tags.remove_tag(uow, team, parse_id(team_contact_id), parse_id(tag_id))


# ---- contact attributes ---------------------------------------------------------------------------


class OptionOut(msgspec.Struct):
    id: str
    value: str
    label: str
    position: int


class ContactAttributeAttributes(msgspec.Struct):
    key: str
    name: str
    data_type: str
    description: str | None
    options: list[OptionOut]
    created_at: datetime
    updated_at: datetime


Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class OptionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    value: Name  # type: ignore[valid-type]
    label: _text(200) | None = None  # type: ignore[valid-type]
    position: Position | None = None


class ContactAttributeCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    key: Id  # type: ignore[valid-type]
    name: _text(200)  # type: ignore[valid-type]
    data_type: Stage  # type: ignore[valid-type]
    description: Description | None = None  # type: ignore[valid-type]
    options: Annotated[list[OptionIn], msgspec.Meta(max_length=500)] = []


class ContactAttributeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: _text(200) | Unset = UNSET  # type: ignore[valid-type]
    description: Description | None | Unset = UNSET  # type: ignore[valid-type]


CONTACT_ATTRIBUTES = resource_types("contact_attributes", ContactAttributeAttributes, ContactAttributeCreate,
                                    ContactAttributeUpdate)


class OptionAttributes(msgspec.Struct):
    attribute_id: str
    value: str
    label: str
    position: int
    created_at: datetime


class OptionCreate(OptionIn, forbid_unknown_fields=True, kw_only=True):
    pass


OPTIONS = resource_types("contact_attribute_options", OptionAttributes, OptionCreate)


def attribute_resource(team_id: Any, r: AttributeRecord) -> Any:
    a = r.attribute
    attrs = ContactAttributeAttributes(
        a.key, a.name, a.data_type, a.description,
        [OptionOut(str(o.id), o.value, o.label, o.position) for o in r.options], a.created_at, a.updated_at,
    )
    return CONTACT_ATTRIBUTES.resource(a.id, attrs, self_link=f"/api/v1/teams/{team_id}/contact-attributes/{a.id}")


def option_resource(o: ContactAttributeOption) -> Any:
    return OPTIONS.resource(o.id, OptionAttributes(str(o.attribute_id), o.value, o.label, o.position, o.created_at))


class ContactAttributesController(Controller):
    """``T/contact-attributes``: typed field definitions and their select options."""

    path = TEAM_PATH + "/contact-attributes"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="List contact attribute definitions with their options")
    async def list_attributes(self, request: Request[Any, Any, Any], team: TeamCtx,
                              uow: Uow) -> Response[CONTACT_ATTRIBUTES.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await crm_attributes.list_attributes(uow, team, q.page)
        return jsonapi(CONTACT_ATTRIBUTES.list_document(
            request, [attribute_resource(team.team_id, r) for r in page.items], page))

    @post("/", opt={"scope": "contacts:write"},
          summary="Define a contact attribute (text, number, date, boolean, select, multi_select)")
    async def create_attribute(self, data: JSONBody[CONTACT_ATTRIBUTES.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                               state: State, uow: Uow) -> Response[CONTACT_ATTRIBUTES.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        record = await crm_attributes.create_attribute(
            uow, services_of(state).clock, team, key=a.key, name=a.name, data_type=a.data_type,
            description=a.description, options=[msgspec.structs.asdict(o) for o in a.options],
        )
        resource = attribute_resource(team.team_id, record)
        return jsonapi(CONTACT_ATTRIBUTES.Document(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{attribute_id:str}", opt={"scope": "contacts:read"}, summary="Read a contact attribute definition")
    async def get_attribute(self, attribute_id: FromPath[str], team: TeamCtx,
                            uow: Uow) -> Response[CONTACT_ATTRIBUTES.Document]:  # type: ignore[name-defined]
        record = await crm_attributes.get_attribute(uow, team, parse_id(attribute_id))
        return jsonapi(CONTACT_ATTRIBUTES.Document(data=attribute_resource(team.team_id, record)))

    @patch("/{attribute_id:str}", opt={"scope": "contacts:write"},
           summary="Rename or re-describe a definition (key and data type are fixed)")
    async def update_attribute(self, attribute_id: FromPath[str],
                               data: JSONBody[CONTACT_ATTRIBUTES.UpdateDocument],  # type: ignore[name-defined]
                               team: TeamCtx, state: State, uow: Uow) -> Response[CONTACT_ATTRIBUTES.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, attribute_id)
        record = await crm_attributes.update_attribute(uow, services_of(state).clock, team, parse_id(attribute_id),
                                                       _given(data.data.attributes))
        return jsonapi(CONTACT_ATTRIBUTES.Document(data=attribute_resource(team.team_id, record)))

    @delete("/{attribute_id:str}", opt={"scope": "contacts:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a definition, its options and every contact's value for it")
    async def delete_attribute(self, attribute_id: FromPath[str], team: TeamCtx, uow: Uow) -> None:
        await crm_attributes.delete_attribute(uow, team, parse_id(attribute_id))

    @get("/{attribute_id:str}/options", opt={"scope": "contacts:read"}, summary="List a definition's options")
    async def list_options(self, request: Request[Any, Any, Any], attribute_id: FromPath[str], team: TeamCtx,
                           uow: Uow) -> Response[OPTIONS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await crm_attributes.list_options(uow, team, parse_id(attribute_id), q.page)
        return jsonapi(OPTIONS.list_document(request, [option_resource(o) for o in page.items], page))

    @post("/{attribute_id:str}/options", opt={"scope": "contacts:write"},
          summary="Add an option to a select or multi_select definition")
    async def add_option(self, attribute_id: FromPath[str], data: JSONBody[OPTIONS.CreateDocument],  # type: ignore[name-defined]
                         team: TeamCtx, state: State, uow: Uow) -> Response[OPTIONS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        option = await crm_attributes.add_option(uow, services_of(state).clock, team, parse_id(attribute_id),
                                                 value=a.value, label=a.label, position=a.position)
        return jsonapi(OPTIONS.Document(data=option_resource(option)), 201)


class AttributeValuesAttributes(msgspec.Struct):
    values: dict[str, Any]


class AttributeValuesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    values: Annotated[dict[str, Any], msgspec.Meta(max_length=500)]


ATTRIBUTE_VALUES = resource_types("contact_attribute_values", AttributeValuesAttributes, None, AttributeValuesUpdate)


def values_document(team_id: Any, team_contact_id: str, values: dict[str, Any]) -> Any:
    return ATTRIBUTE_VALUES.document(team_contact_id, AttributeValuesAttributes(values),
                                     self_link=f"/api/v1/teams/{team_id}/contacts/{team_contact_id}/attributes")


class ContactValuesController(Controller):
    """``T/contacts/{team_contact_id}/attributes``: one contact's attribute values as ``{key: value}``."""

    path = TEAM_PATH + "/contacts/{team_contact_id:str}/attributes"
    tags = ["crm"]

    @get("/", opt={"scope": "contacts:read"}, summary="Read a contact's attribute values")
    async def get_values(self, team_contact_id: FromPath[str], team: TeamCtx,
                         uow: Uow) -> Response[ATTRIBUTE_VALUES.Document]:  # type: ignore[name-defined]
        values = await crm_attributes.get_values(uow, team, parse_id(team_contact_id))
        return jsonapi(values_document(team.team_id, team_contact_id, values))

    @patch("/", opt={"scope": "contacts:write"},
           summary="Set (or with null clear) attribute values, validated against the definitions, all or nothing")
    async def set_values(self, team_contact_id: FromPath[str], data: JSONBody[ATTRIBUTE_VALUES.UpdateDocument],  # type: ignore[name-defined]
                         team: TeamCtx, state: State, uow: Uow) -> Response[ATTRIBUTE_VALUES.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, team_contact_id)
        values = await crm_attributes.set_values(uow, services_of(state).clock, team, parse_id(team_contact_id),
                                                 data.data.attributes.values)
        return jsonapi(values_document(team.team_id, team_contact_id, values))


ROUTES: list[Any] = [
    ContactsController, ContactTagsController, ContactValuesController, TagsController, ContactAttributesController,
]
