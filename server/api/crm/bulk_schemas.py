"""Tagging a contact with several tags at once (``POST T/contacts/{team_contact_id}/tags/bulk``), all
or nothing. A module of its own: its answer, a list of ``contact_tags``, is a class named
``ContactTagsDocument`` like the one-tag answer in ``schemas.py``, and the OpenAPI document names
both so (``controllers_crm_ContactTagsDocument`` and ``jsonapi_ContactTagsDocument``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from domain.crm.tags import MAX_BULK
from server.api.crm.schemas import ContactTagsResource, Id
from server.jsonapi import Inbound
from server.openapi import component


class ContactTagBulkAttributes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tag_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_BULK)]


class ContactTagBulkData(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["contact_tags"]
    attributes: ContactTagBulkAttributes


class ContactTagBulkDocument(Inbound):
    """A JSON:API document: the domain's field names (``tag_ids``, ``("tag_ids", 2)``) point
    under ``/data/attributes`` (server/errors.py)."""

    data: ContactTagBulkData


class ContactTagsDocument(msgspec.Struct):
    data: list[ContactTagsResource]


ManyContactTagsDocument = Annotated[ContactTagsDocument, component("controllers_crm_ContactTagsDocument")]
