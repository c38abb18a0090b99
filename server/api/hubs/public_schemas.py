"""A hub's public face (``public_hubs``): what a sign-in page shows before anyone signs in."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.hubs.directory import PublicHub
from server.jsonapi import Links, ListDocument, PageMeta, Resource


class PublicHubAttributes(msgspec.Struct):
    name: str
    slug: str
    description: str | None
    is_private: bool
    branding: dict[str, Any]


class PublicHubsResource(Resource):
    type: Literal["public_hubs"]
    attributes: PublicHubAttributes


class PublicHubsListDocument(ListDocument):
    data: list[PublicHubsResource]


def public_hubs_document(url: str, hubs: list[PublicHub]) -> PublicHubsListDocument:
    data = [PublicHubsResource.of(h.id, PublicHubAttributes(h.name, h.slug, h.description, h.is_private, h.branding))
            for h in hubs]
    return PublicHubsListDocument(data=data, links=Links(self=url), meta=PageMeta(has_more=False))
