"""JSON:API types of the data-rights routes: a contact's export and the receipt of an erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from persistence.models import DataErasure
from server.jsonapi import Document, Resource


class ContactExportAttributes(msgspec.Struct):
    """Everything the team holds about the contact, by section (docs/api.md#data-rights)."""

    generated_at: datetime
    contact: dict[str, Any]
    team_contact: dict[str, Any]
    tags: list[str]
    attributes: list[dict[str, Any]]
    memberships: list[dict[str, Any]]
    policy_acceptances: list[dict[str, Any]]
    space_memberships: list[dict[str, Any]]
    entitlements: list[dict[str, Any]]
    access_overrides: list[dict[str, Any]]
    discussions: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    reactions: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    reports_filed: list[dict[str, Any]]
    moderation_history: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    coupon_redemptions: list[dict[str, Any]]
    emails: list[dict[str, Any]]


class ContactExportsResource(Resource):
    type: Literal["contact_exports"]
    attributes: ContactExportAttributes


class ContactExportsDocument(Document):
    data: ContactExportsResource


class ContactErasureAttributes(msgspec.Struct):
    contact_id: str
    team_contact_id: str
    erased_by: str
    erased_at: datetime
    summary: dict[str, int]


class ContactErasuresResource(Resource):
    type: Literal["contact_erasures"]
    attributes: ContactErasureAttributes


class ContactErasuresDocument(Document):
    data: ContactErasuresResource


def export_resource(team_contact_id: str, sections: dict[str, Any], now: datetime) -> ContactExportsResource:
    return ContactExportsResource.of(team_contact_id, ContactExportAttributes(generated_at=now, **sections))


def erasure_resource(e: DataErasure) -> ContactErasuresResource:
    return ContactErasuresResource.of(e.id, ContactErasureAttributes(
        contact_id=str(e.contact_id), team_contact_id=str(e.team_contact_id), erased_by=e.erased_by,
        erased_at=e.erased_at, summary=dict(e.summary)))
