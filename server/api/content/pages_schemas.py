"""The JSON:API types of pages: ``pages`` as staff see them (the draft, ``draft_version``, and the
published version) and as members and the public see them (the published version only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

from persistence.models import Page
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class PageAttributes(msgspec.Struct, kw_only=True):
    title: str
    slug: str
    body: str | None
    privacy: str
    is_home: bool
    parent_id: str | None
    position: int
    draft_version: int
    published_version: int | None
    published_title: str | None
    published_body: str | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PageCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    slug: str | None = None
    body: str | None = None
    privacy: str = "members"
    is_home: bool = False
    parent_id: str | None = None
    position: int | None = None


class PageUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str | Unset = UNSET
    slug: str | Unset = UNSET
    body: str | None | Unset = UNSET
    privacy: str | Unset = UNSET
    is_home: bool | Unset = UNSET


class PagePlacement(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    parent_id: str | None = None
    position: int | None = None


class PagesResource(Resource):
    type: Literal["pages"]
    attributes: PageAttributes


class PagesDocument(Document):
    data: PagesResource


class PagesListDocument(ListDocument):
    data: list[PagesResource]


class PagesCreateData(CreateData):
    type: Literal["pages"]
    attributes: PageCreate


class PagesCreateDocument(Inbound):
    data: PagesCreateData


class PagesUpdateData(UpdateData):
    type: Literal["pages"]
    attributes: PageUpdate


class PagesUpdateDocument(Inbound):
    data: PagesUpdateData


class PagesTreeData(UpdateData):
    type: Literal["pages"]
    attributes: PagePlacement


class PagesTreeDocument(Inbound):
    """``PUT …/pages/{id}/tree``: where the page goes (``parent_id``, ``position``)."""

    data: PagesTreeData


def page_resource(p: Page, team_id: uuid.UUID | str) -> PagesResource:
    return PagesResource.of(p.id, PageAttributes(
        title=p.title, slug=p.slug, body=p.body, privacy=p.privacy, is_home=p.is_home,
        parent_id=str(p.parent_id) if p.parent_id else None, position=p.position, draft_version=p.draft_version,
        published_version=p.published_version, published_title=p.published_title, published_body=p.published_body,
        published_at=p.published_at, created_at=p.created_at, updated_at=p.updated_at),
        self_link=f"/api/v1/teams/{team_id}/hubs/{p.hub_id}/pages/{p.id}")


# ---- members and the public: the published version ---------------------------------------------------


class PublishedPageAttributes(msgspec.Struct, kw_only=True):
    title: str
    slug: str
    body: str | None
    privacy: str
    is_home: bool
    parent_id: str | None
    position: int
    published_at: datetime | None


class PublishedPagesResource(Resource):
    type: Literal["pages"]
    attributes: PublishedPageAttributes


class PublishedPagesDocument(Document):
    data: PublishedPagesResource


def published_page_resource(p: Page, self_link: str) -> PublishedPagesResource:
    return PublishedPagesResource.of(p.id, PublishedPageAttributes(
        title=p.published_title or p.title, slug=p.slug, body=p.published_body, privacy=p.privacy, is_home=p.is_home,
        parent_id=str(p.parent_id) if p.parent_id else None, position=p.position, published_at=p.published_at),
        self_link=self_link)
