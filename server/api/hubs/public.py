"""Route: a hub's public face by slug or id (``GET /api/v1/public/hubs``), no token needed. The
member web app reads it to brand its sign-in page; any other client may too (docs/api.md#hubs)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from domain.filters import filter_id
from domain.hubs.directory import find_public_hubs
from server.api.hubs.public_schemas import PublicHubsListDocument, public_hubs_document
from server.deps import Context
from server.jsonapi import jsonapi, parse_query


@get("/api/v1/public/hubs", tags=["hubs"], security=[],
     summary="A hub's name, slug and branding by filter[slug] or filter[id] (public)")
async def public_hubs(request: Request[Any, Any, Any], ctx: Context) -> Response[PublicHubsListDocument]:
    q = parse_query(request, frozenset({"filter[slug]", "filter[id]"}))
    hub_id = filter_id(q.get("filter[id]"), "id", what="a hub id")
    hubs = await find_public_hubs(ctx, slug=q.get("filter[slug]"), hub_id=hub_id)
    return jsonapi(public_hubs_document(str(request.url), hubs), headers={"Cache-Control": "no-cache"})
