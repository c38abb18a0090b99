"""The CRM's types: team contacts (``team_contacts``), tags (``tags``, ``contact_tags``), contact
attribute definitions (``contact_attributes``, ``contact_attribute_options``) and values
(``contact_attribute_values``). Segments are in ``segments_schemas.py``; tagging a contact with
several tags at once in ``bulk_schemas.py``.

Team routes address contacts by team contact id; every document also carries the global
``contact_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from domain.crm.attributes import AttributeRecord
from domain.crm.contacts import ContactFilters, TeamContactRecord
from domain.crm.tags import Assignment, TagRecord
from domain.errors import NotFound, ValidationFailed
from domain.filters import filter_id, parse_bool_filter
from persistence.ids import parse_id
from persistence.models import ContactAttributeOption
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData
from server.openapi import component

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

Id = Annotated[str, msgspec.Meta(max_length=64)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
Name = Annotated[str, msgspec.Meta(max_length=100)]
Phone = Annotated[str, msgspec.Meta(max_length=50)]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
Source = Annotated[str, msgspec.Meta(max_length=100)]
Stage = Annotated[str, msgspec.Meta(max_length=20)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
LongName = Annotated[str, msgspec.Meta(max_length=200)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


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
    first_name: Name | None | Unset = UNSET
    last_name: Name | None | Unset = UNSET
    phone: Phone | None | Unset = UNSET
    notes: Notes | None | Unset = UNSET
    lifecycle_stage: Stage | Unset = UNSET
    source: Source | None | Unset = UNSET


class TeamContactCreate(TeamContactUpdate, forbid_unknown_fields=True, kw_only=True):
    email: Email


class TeamContactsResource(Resource):
    type: Literal["team_contacts"]
    attributes: TeamContactAttributes


class TeamContactsDocument(Document):
    data: TeamContactsResource


class TeamContactsListDocument(ListDocument):
    data: list[TeamContactsResource]


class TeamContactsCreateData(CreateData):
    type: Literal["team_contacts"]
    attributes: TeamContactCreate


class TeamContactsCreateDocument(Inbound):
    data: TeamContactsCreateData


class TeamContactsUpdateData(UpdateData):
    type: Literal["team_contacts"]
    attributes: TeamContactUpdate


class TeamContactsUpdateDocument(Inbound):
    data: TeamContactsUpdateData


CONTACT_FILTERS = frozenset({"email", "tag", "q", "lifecycle_stage", "segment", "deleted"})


def team_contact_resource(team_id: Any, r: TeamContactRecord) -> TeamContactsResource:
    tc = r.team_contact
    attrs = TeamContactAttributes(
        email=r.email, contact_id=str(tc.contact_id), first_name=tc.first_name, last_name=tc.last_name,
        phone=tc.phone, notes=tc.notes, lifecycle_stage=tc.lifecycle_stage, source=tc.source,
        tag_ids=[str(t) for t in r.tag_ids], created_at=tc.created_at, updated_at=tc.updated_at,
        deleted_at=tc.deleted_at,
    )
    return TeamContactsResource.of(tc.id, attrs, self_link=f"/api/v1/teams/{team_id}/contacts/{tc.id}")


def no_nul(filters: dict[str, str]) -> dict[str, str]:
    """Refuse a NUL character in a filter: PostgreSQL cannot compare text holding one."""
    for name, value in filters.items():
        if "\x00" in value:
            raise ValidationFailed("A filter may not contain the NUL character.", code="invalid_filter",
                                   parameter=f"filter[{name}]")
    return filters


def contact_filters(filters: dict[str, str]) -> ContactFilters:
    """The ``filter[...]`` of a contact list (``CONTACT_FILTERS``) as the domain's filters."""
    filters = no_nul(filters)
    tag_id = filter_id(filters.get("tag"), "tag", what="a tag id")
    segment_id = None
    if "segment" in filters:
        segment_id = parse_id(filters["segment"])
        if segment_id is None:
            raise NotFound("Segment not found.")
    return ContactFilters(email=filters.get("email"), tag_id=tag_id, q=filters.get("q"),
                          lifecycle_stage=filters.get("lifecycle_stage"), segment_id=segment_id,
                          deleted=bool(parse_bool_filter(filters, "deleted")))


# ---- tags ------------------------------------------------------------------------------------------


class TagAttributes(msgspec.Struct):
    name: str
    color: str | None
    description: str | None
    contact_count: int
    created_at: datetime
    updated_at: datetime


class TagCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    color: Stage | None = None
    description: Description | None = None


class TagUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | Unset = UNSET
    color: Stage | None | Unset = UNSET
    description: Description | None | Unset = UNSET


class TagsResource(Resource):
    type: Literal["tags"]
    attributes: TagAttributes


class TagsDocument(Document):
    data: TagsResource


class TagsListDocument(ListDocument):
    data: list[TagsResource]


class TagsCreateData(CreateData):
    type: Literal["tags"]
    attributes: TagCreate


class TagsCreateDocument(Inbound):
    data: TagsCreateData


class TagsUpdateData(UpdateData):
    type: Literal["tags"]
    attributes: TagUpdate


class TagsUpdateDocument(Inbound):
    data: TagsUpdateData


def tag_resource(r: TagRecord) -> TagsResource:
    t = r.tag
    attrs = TagAttributes(t.name, t.color, t.description, r.contact_count, t.created_at, t.updated_at)
    return TagsResource.of(t.id, attrs, self_link=f"/api/v1/teams/{t.team_id}/tags/{t.id}")


# ---- a contact's tags --------------------------------------------------------------------------------


class ContactTagAttributes(msgspec.Struct):
    team_contact_id: str
    tag_id: str
    created_at: datetime


class ContactTagCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tag_id: Id


class ContactTagsResource(Resource):
    type: Literal["contact_tags"]
    attributes: ContactTagAttributes


class ContactTagsDocument(Document):
    data: ContactTagsResource


# bulk_schemas.ContactTagsDocument (several assignments) has the same class name: each keeps the
# OpenAPI name it had before the move (see server/openapi.component).
OneContactTagDocument = Annotated[ContactTagsDocument, component("jsonapi_ContactTagsDocument")]


class ContactTagsCreateData(CreateData):
    type: Literal["contact_tags"]
    attributes: ContactTagCreate


class ContactTagsCreateDocument(Inbound):
    data: ContactTagsCreateData


def contact_tag_resource(team_id: Any, a: Assignment) -> ContactTagsResource:
    return ContactTagsResource.of(
        f"{a.team_contact_id}:{a.tag_id}", ContactTagAttributes(str(a.team_contact_id), str(a.tag_id), a.created_at),
        self_link=f"/api/v1/teams/{team_id}/contacts/{a.team_contact_id}/tags/{a.tag_id}",
    )


# ---- contact attribute definitions and their options -------------------------------------------------


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


class OptionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    value: Name
    label: LongName | None = None
    position: Position | None = None


class ContactAttributeCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    key: Id
    name: LongName
    data_type: Stage
    description: Description | None = None
    options: Annotated[list[OptionIn], msgspec.Meta(max_length=500)] = []


class ContactAttributeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: LongName | Unset = UNSET
    description: Description | None | Unset = UNSET


class ContactAttributesResource(Resource):
    type: Literal["contact_attributes"]
    attributes: ContactAttributeAttributes


class ContactAttributesDocument(Document):
    data: ContactAttributesResource


class ContactAttributesListDocument(ListDocument):
    data: list[ContactAttributesResource]


class ContactAttributesCreateData(CreateData):
    type: Literal["contact_attributes"]
    attributes: ContactAttributeCreate


class ContactAttributesCreateDocument(Inbound):
    data: ContactAttributesCreateData


class ContactAttributesUpdateData(UpdateData):
    type: Literal["contact_attributes"]
    attributes: ContactAttributeUpdate


class ContactAttributesUpdateDocument(Inbound):
    data: ContactAttributesUpdateData


class OptionAttributes(msgspec.Struct):
    attribute_id: str
    value: str
    label: str
    position: int
    created_at: datetime


class OptionCreate(OptionIn, forbid_unknown_fields=True, kw_only=True):
    pass


class ContactAttributeOptionsResource(Resource):
    type: Literal["contact_attribute_options"]
    attributes: OptionAttributes


class ContactAttributeOptionsDocument(Document):
    data: ContactAttributeOptionsResource


class ContactAttributeOptionsListDocument(ListDocument):
    data: list[ContactAttributeOptionsResource]


class ContactAttributeOptionsCreateData(CreateData):
    type: Literal["contact_attribute_options"]
    attributes: OptionCreate


class ContactAttributeOptionsCreateDocument(Inbound):
    data: ContactAttributeOptionsCreateData


def attribute_resource(team_id: Any, r: AttributeRecord) -> ContactAttributesResource:
    a = r.attribute
    attrs = ContactAttributeAttributes(
        a.key, a.name, a.data_type, a.description,
        [OptionOut(str(o.id), o.value, o.label, o.position) for o in r.options], a.created_at, a.updated_at,
    )
    return ContactAttributesResource.of(a.id, attrs,
                                        self_link=f"/api/v1/teams/{team_id}/contact-attributes/{a.id}")


def option_resource(o: ContactAttributeOption) -> ContactAttributeOptionsResource:
    return ContactAttributeOptionsResource.of(
        o.id, OptionAttributes(str(o.attribute_id), o.value, o.label, o.position, o.created_at))


# ---- a contact's attribute values ------------------------------------------------------------------


class AttributeValuesAttributes(msgspec.Struct):
    values: dict[str, Any]


class AttributeValuesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    values: Annotated[dict[str, Any], msgspec.Meta(max_length=500)]


class ContactAttributeValuesResource(Resource):
    type: Literal["contact_attribute_values"]
    attributes: AttributeValuesAttributes


class ContactAttributeValuesDocument(Document):
    data: ContactAttributeValuesResource


class ContactAttributeValuesUpdateData(UpdateData):
    type: Literal["contact_attribute_values"]
    attributes: AttributeValuesUpdate


class ContactAttributeValuesUpdateDocument(Inbound):
    data: ContactAttributeValuesUpdateData


def values_document(team_id: Any, team_contact_id: str, values: dict[str, Any]) -> ContactAttributeValuesDocument:
    return ContactAttributeValuesDocument(data=ContactAttributeValuesResource.of(
        team_contact_id, AttributeValuesAttributes(values),
        self_link=f"/api/v1/teams/{team_id}/contacts/{team_contact_id}/attributes"))
