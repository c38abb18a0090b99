"""The JSON:API types of pages: ``pages`` as staff see them (the draft, ``draft_version``, and the
published version) and as members and the public see them (the published version only, with its
``sections``, each ``locked`` or not for the reader); ``page_sections``, a page's sections as staff
see them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

from domain.content.sections import ShownSection
from persistence.models import Page, PageSection
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


# ---- sections, team side ----------------------------------------------------------------------------


class SectionPublished(msgspec.Struct, kw_only=True):
    """The section as the published page shows it (null until the page is published with it)."""

    title: str
    body: str | None
    position: int


class PageSectionAttributes(msgspec.Struct, kw_only=True):
    page_id: str
    title: str
    body: str | None
    position: int
    published: SectionPublished | None  # read-only
    page_draft_version: int  # read-only: the page's draft_version after this write (send it as If-Match)
    created_at: datetime
    updated_at: datetime


class PageSectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str | None = None
    position: int | None = None


class PageSectionUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str | Unset = UNSET
    body: str | None | Unset = UNSET
    position: int | Unset = UNSET


class PageSectionsResource(Resource):
    type: Literal["page_sections"]
    attributes: PageSectionAttributes


class PageSectionsDocument(Document):
    data: PageSectionsResource


class PageSectionsListDocument(ListDocument):
    data: list[PageSectionsResource]


class PageSectionsCreateData(CreateData):
    type: Literal["page_sections"]
    attributes: PageSectionCreate


class PageSectionsCreateDocument(Inbound):
    data: PageSectionsCreateData


class PageSectionsUpdateData(UpdateData):
    type: Literal["page_sections"]
    attributes: PageSectionUpdate


class PageSectionsUpdateDocument(Inbound):
    data: PageSectionsUpdateData


def section_resource(s: PageSection, page: Page, team_id: uuid.UUID | str) -> PageSectionsResource:
    published = None if s.published_title is None else SectionPublished(
        title=s.published_title, body=s.published_body, position=s.published_position or 0)
    return PageSectionsResource.of(s.id, PageSectionAttributes(
        page_id=str(s.page_id), title=s.title, body=s.body, position=s.position, published=published,
        page_draft_version=page.draft_version, created_at=s.created_at, updated_at=s.updated_at),
        self_link=f"/api/v1/teams/{team_id}/hubs/{s.hub_id}/pages/{s.page_id}/sections/{s.id}")


# ---- members and the public: the published version ---------------------------------------------------


class PublishedSection(msgspec.Struct, kw_only=True):
    """A published section as this reader sees it now: ``body`` null while ``locked``."""

    id: str
    title: str
    locked: bool
    lock_reason: str | None
    unlock_at: datetime | None
    body: str | None  # never for a locked section


class PublishedPageAttributes(msgspec.Struct, kw_only=True):
    title: str
    slug: str
    body: str | None
    privacy: str
    is_home: bool
    parent_id: str | None
    position: int
    published_at: datetime | None
    sections: list[PublishedSection]


class PublishedPagesResource(Resource):
    type: Literal["pages"]
    attributes: PublishedPageAttributes


class PublishedPagesDocument(Document):
    data: PublishedPagesResource


def published_page_resource(p: Page, sections: list[ShownSection], self_link: str) -> PublishedPagesResource:
    return PublishedPagesResource.of(p.id, PublishedPageAttributes(
        title=p.published_title or p.title, slug=p.slug, body=p.published_body, privacy=p.privacy, is_home=p.is_home,
        parent_id=str(p.parent_id) if p.parent_id else None, position=p.position, published_at=p.published_at,
        sections=[PublishedSection(id=str(s.id), title=s.title, locked=s.locked, lock_reason=s.lock_reason,
                                   unlock_at=s.unlock_at, body=s.body) for s in sections]),
        self_link=self_link)
