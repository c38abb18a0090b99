"""Routes: pages (docs/api.md, "Pages"; JSON:API types in ``pages_schemas.py``).

Team side (``content:read`` / ``content:write``), ``T/hubs/{hub_id}/pages``: every write but
create and delete sends ``If-Match: <draft_version>`` (428 without it, 409 ``stale_draft`` when
someone saved first); reads answer the draft's version as ``ETag``. Member side ``H/pages/{id or
slug}``: the published version, as the access evaluator decides, with its ``sections`` (each
locked or not for the reader: ``domain.content.sections``). Public:
``/api/v1/public/hubs/{hub_id}/pages/{id or slug}`` and ``…/home``, no token, published public
pages only, with ``ETag`` / ``Last-Modified`` and 304 for a client that has it already.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.content import pages, sections
from persistence.ids import parse_id
from server.api.content import sections as section_routes
from server.api.content.pages_schemas import (
    PagesCreateDocument,
    PagesDocument,
    PagesListDocument,
    PagesTreeDocument,
    PagesUpdateDocument,
    PublishedPagesDocument,
    page_resource,
    published_page_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.openapi import IfMatchOperation
from server.paths import HUB_PATH, TEAM_HUB_PATH

READ, WRITE = {"scope": "content:read"}, {"scope": "content:write"}
PUBLIC_CACHE = "public, max-age=60, must-revalidate"
SECTIONS_CACHE = "public, no-cache"  # a page with sections: revalidated every time (see _public)


def _if_match(request: Request[Any, Any, Any]) -> int | None:
    return pages.parse_if_match(request.headers.get("if-match"))


def _draft(document: PagesDocument, status: int = 200) -> Response[Any]:
    headers = {"ETag": f'"{document.data.attributes.draft_version}"'}
    if status == 201 and document.data.links is not None:
        headers["Location"] = document.data.links.self or ""
    return jsonapi(document, status, headers=headers)


class PagesController(Controller):
    """``T/hubs/{hub_id}/pages``: the hub's pages, drafts and published versions."""

    path = TEAM_HUB_PATH + "/pages"
    tags = ["pages"]

    @get("/", opt=READ, summary="List the hub's pages")
    async def list_pages(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[PagesListDocument]:
        q = parse_list_query(request, allowed_filters=None)
        page = await pages.list_pages(ctx, hub, q.page)
        return jsonapi(PagesListDocument.page(request, [page_resource(p, team.team_id) for p in page.items], page))

    @post("/", opt=WRITE, summary="Create a page (a draft, draft_version 1)")
    async def create_page(self, data: JSONBody[PagesCreateDocument], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[PagesDocument]:
        page = await pages.create_page(ctx, hub, msgspec.structs.asdict(data.data.attributes))
        return _draft(PagesDocument(data=page_resource(page, team.team_id)), 201)

    @get("/home", opt=READ, summary="The hub's home page (404 when none is marked is_home)")
    async def home(self, team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[PagesDocument]:
        return _draft(PagesDocument(data=page_resource(await pages.home_page(ctx, hub.id), team.team_id)))

    @get("/{page_id:str}", opt=READ, summary="Read a page (ETag: its draft_version)")
    async def get_page(self, page_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                       ctx: Context) -> Response[PagesDocument]:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        return _draft(PagesDocument(data=page_resource(page, team.team_id)))

    @patch("/{page_id:str}", opt=WRITE, operation_class=IfMatchOperation,
           summary="Change a page's draft and settings: If-Match: <draft_version> (428 without, 409 stale_draft)")
    async def update_page(self, request: Request[Any, Any, Any], page_id: FromPath[str],
                          data: JSONBody[PagesUpdateDocument], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[PagesDocument]:
        check_document_id(data.data.id, page_id)
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        page = await pages.update_page(ctx, hub, page, present(data.data.attributes), _if_match(request))
        return _draft(PagesDocument(data=page_resource(page, team.team_id)))

    @delete("/{page_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a page and the pages under it (soft delete; If-Match optional)")
    async def delete_page(self, request: Request[Any, Any, Any], page_id: FromPath[str], team: TeamCtx,
                          hub: TeamHub, ctx: Context) -> None:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        await pages.delete_page(ctx, hub, page, _if_match(request))

    @put("/{page_id:str}/tree", opt=WRITE, operation_class=IfMatchOperation,
         summary="Place a page under parent_id at position (If-Match: <draft_version>; 422 cycle)")
    async def place_page(self, request: Request[Any, Any, Any], page_id: FromPath[str],
                         data: JSONBody[PagesTreeDocument], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[PagesDocument]:
        check_document_id(data.data.id, page_id)
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        page = await pages.place_page(ctx, hub, page, msgspec.structs.asdict(data.data.attributes),
                                      _if_match(request))
        return _draft(PagesDocument(data=page_resource(page, team.team_id)))

    @post("/{page_id:str}/publish", opt=WRITE, status_code=200,
          summary="Publish the draft (If-Match optional: 409 stale_draft when it names another draft)")
    async def publish_page(self, request: Request[Any, Any, Any], page_id: FromPath[str], team: TeamCtx,
                           hub: TeamHub, ctx: Context) -> Response[PagesDocument]:
        page = await pages.find_page(ctx.uow, hub.id, parse_id(page_id))
        page = await pages.publish_page(ctx, hub, page, _if_match(request))
        return _draft(PagesDocument(data=page_resource(page, team.team_id)))


@get(HUB_PATH + "/pages/{page:str}", opt={"access": "view"}, tags=["pages"],
     summary="A published page by id or slug, as the access evaluator lets me see it")
async def member_page(page: FromPath[str], member: Member, ctx: Context) -> Response[PublishedPagesDocument]:
    view = await sections.member_view(ctx, member, page)
    found = view.page
    return jsonapi(PublishedPagesDocument(data=published_page_resource(
        found, view.sections, f"/api/v1/hub/{found.hub_id}/pages/{found.id}")))


PUBLIC_PATH = "/api/v1/public/hubs/{hub_id:str}"


def _public(request: Request[Any, Any, Any], view: sections.PageView) -> Response[Any]:
    """The published public page, or 304 when the client's copy is current (``If-None-Match``
    first, else ``If-Modified-Since``).

    A page with sections answers what the evaluator decides now (a rule or an unlock time can
    change it without a new publication): its ``ETag`` also names each section's lock state, it
    has no ``Last-Modified`` (``If-Modified-Since`` is not answered with 304) and caches must
    revalidate it every time (``no-cache``), so no cache hands out a section's body once it is
    locked for anonymous readers."""
    page = view.page
    etag = f'"{page.id}.{page.published_version}"'
    headers = {"Cache-Control": PUBLIC_CACHE}
    published = (page.published_at or page.updated_at).astimezone(timezone.utc).replace(microsecond=0)
    if view.sections:
        etag = f'"{page.id}.{page.published_version}.{_lock_digest(view.sections)}"'
        headers["Cache-Control"] = SECTIONS_CACHE
    else:
        headers["Last-Modified"] = format_datetime(published, usegmt=True)
    headers["ETag"] = etag
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        if etag in tags or "*" in tags:
            return Response(content=b"", status_code=304, headers=headers)
    elif not view.sections:
        since = _http_date(request.headers.get("if-modified-since"))
        if since is not None and published <= since:
            return Response(content=b"", status_code=304, headers=headers)
    return jsonapi(PublishedPagesDocument(data=published_page_resource(
        page, view.sections, f"/api/v1/public/hubs/{page.hub_id}/pages/{page.id}")), headers=headers)


def _lock_digest(shown: list[sections.ShownSection]) -> str:
    """A short digest of which sections are shown and how each is locked (the bodies change only
    with ``published_version``, which the ETag names already)."""
    state = "|".join(f"{s.id}:{int(s.locked)}:{s.lock_reason}:{s.unlock_at.isoformat() if s.unlock_at else ''}"
                     for s in shown)
    return hashlib.blake2b(state.encode(), digest_size=8).hexdigest()


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


@get(PUBLIC_PATH + "/pages/{page:str}", tags=["pages"], security=[],
     summary="A published public page by id or slug, no token (ETag, Last-Modified, 304)")
async def public_page(request: Request[Any, Any, Any], hub_id: FromPath[str], page: FromPath[str],
                      ctx: Context) -> Response[PublishedPagesDocument]:
    return _public(request, await sections.public_view(ctx, parse_id(hub_id), page))


@get(PUBLIC_PATH + "/home", tags=["pages"], security=[],
     summary="The hub's home page when it is public and published, no token (ETag, Last-Modified, 304)")
async def public_home(request: Request[Any, Any, Any], hub_id: FromPath[str],
                      ctx: Context) -> Response[PublishedPagesDocument]:
    return _public(request, await sections.public_view(ctx, parse_id(hub_id), None))


ROUTES: list[Any] = [PagesController, *section_routes.ROUTES, member_page, public_page, public_home]
