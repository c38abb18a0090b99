"""Routes: a page's sections, team side (docs/api.md, "Page sections"; JSON:API types in
``pages_schemas.py``; the use cases in ``domain.content.sections``).

``T/hubs/{hub_id}/pages/{page_id}/sections[/{section_id}]``, scopes ``content:read`` /
``content:write`` as pages. A section is part of its page's draft: every write sends ``If-Match:
<draft_version>`` of the page (428 without, 409 ``stale_draft`` when it moved) and bumps it; every
answer carries the page's new ``draft_version`` as ``ETag`` (and ``page_draft_version``). Members
and the public read sections with the published page (``pages.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.content import pages, sections
from persistence.ids import parse_id
from persistence.models import Page, PageSection
from server.api.content.pages_schemas import (
    PageSectionsCreateDocument,
    PageSectionsDocument,
    PageSectionsListDocument,
    PageSectionsUpdateDocument,
    section_resource,
)
from server.deps import Context, TeamCtx, TeamHub
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.openapi import IfMatchOperation
from server.paths import TEAM_HUB_PATH

READ, WRITE = {"scope": "content:read"}, {"scope": "content:write"}


def _if_match(request: Request[Any, Any, Any]) -> int | None:
    return pages.parse_if_match(request.headers.get("if-match"))


def _etag(page: Page) -> dict[str, str]:
    return {"ETag": f'"{page.draft_version}"'}


def _one(section: PageSection, page: Page, team: TeamCtx, status: int = 200) -> Response[Any]:
    resource = section_resource(section, page, team.team_id)
    headers = _etag(page)
    if status == 201 and resource.links is not None:
        headers["Location"] = resource.links.self or ""
    return jsonapi(PageSectionsDocument(data=resource), status, headers=headers)


class PageSectionsController(Controller):
    """``T/hubs/{hub_id}/pages/{page_id}/sections``: the sections of a page's draft."""

    path = TEAM_HUB_PATH + "/pages/{page_id:str}/sections"
    tags = ["pages"]

    @get("/", opt=READ, summary="List the page's sections in position order (ETag: the page's draft_version)")
    async def list_sections(self, request: Request[Any, Any, Any], page_id: FromPath[str], team: TeamCtx,
                            hub: TeamHub, ctx: Context) -> Response[PageSectionsListDocument]:
        q = parse_list_query(request, allowed_filters=None, own_cursor=True)
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        listed = await sections.list_sections(ctx, page, q.page, q.after)
        return jsonapi(PageSectionsListDocument.page(
            request, [section_resource(s, page, team.team_id) for s in listed.items], listed), headers=_etag(page))

    @post("/", opt=WRITE, operation_class=IfMatchOperation,
          summary="Add a section to the page's draft: If-Match: <draft_version> of the page (428 without, 409 "
                  "stale_draft)")
    async def create_section(self, request: Request[Any, Any, Any], page_id: FromPath[str],
                             data: JSONBody[PageSectionsCreateDocument], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[PageSectionsDocument]:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        section = await sections.create_section(ctx, page, msgspec.structs.asdict(data.data.attributes),
                                                _if_match(request))
        return _one(section, page, team, 201)

    @get("/{section_id:str}", opt=READ, summary="Read a section (ETag: the page's draft_version)")
    async def get_section(self, page_id: FromPath[str], section_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[PageSectionsDocument]:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        return _one(await sections.find_section(ctx.uow, page, parse_id(section_id)), page, team)

    @patch("/{section_id:str}", opt=WRITE, operation_class=IfMatchOperation,
           summary="Change a section in the page's draft: If-Match: <draft_version> of the page (428 without, 409 "
                   "stale_draft)")
    async def update_section(self, request: Request[Any, Any, Any], page_id: FromPath[str],
                             section_id: FromPath[str], data: JSONBody[PageSectionsUpdateDocument], team: TeamCtx,
                             hub: TeamHub, ctx: Context) -> Response[PageSectionsDocument]:
        check_document_id(data.data.id, section_id)
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        section = await sections.find_section(ctx.uow, page, parse_id(section_id))
        section = await sections.update_section(ctx, page, section, present(data.data.attributes), _if_match(request))
        return _one(section, page, team)

    @delete("/{section_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT, operation_class=IfMatchOperation,
            summary="Delete a section from the page's draft (the published page keeps it until the next publish): "
                    "If-Match: <draft_version> of the page")
    async def delete_section(self, request: Request[Any, Any, Any], page_id: FromPath[str],
                             section_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[None]:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        section = await sections.find_section(ctx.uow, page, parse_id(section_id))
        await sections.delete_section(ctx, page, section, _if_match(request))
        return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers=_etag(page))


ROUTES: list[Any] = [PageSectionsController]
