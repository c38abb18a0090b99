"""Routes: community spaces.

Team side (``T/hubs/{hub_id}/spaces``, scopes ``community:read|write``): spaces and the members of
private and secret spaces. Member side (``H/spaces``): every handler takes ``member`` and declares
``access: view`` on the hub; the domain then asks the evaluator about the space.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.community import spaces as space_service
from persistence.ids import parse_id
from server.api.community.spaces_schemas import (
    SpaceMembersCreateDocument,
    SpaceMembersDocument,
    SpaceMembersListDocument,
    SpacesCreateDocument,
    SpacesDocument,
    SpacesListDocument,
    SpacesUpdateDocument,
    member_space_document,
    member_space_resource,
    space_member_resource,
    team_space_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.openapi import existing_or_created
from server.paths import HUB_PATH, TEAM_HUB_PATH


class TeamSpacesController(Controller):
    """``T/hubs/{hub_id}/spaces``: a hub's spaces and who is in the private and secret ones."""

    path = TEAM_HUB_PATH + "/spaces"
    tags = ["community"]

    @get("/", opt={"scope": "community:read"}, summary="List the hub's spaces in display order")
    async def list_spaces(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[SpacesListDocument]:
        q = parse_list_query(request, allowed_filters=None, own_cursor=True)
        page = await space_service.list_spaces(ctx, hub, q.page, q.after)
        return jsonapi(SpacesListDocument.page(request, [team_space_resource(s, team.team_id) for s in page.items],
                                               page))

    @post("/", opt={"scope": "community:write"}, summary="Create a space")
    async def create_space(self, data: JSONBody[SpacesCreateDocument], team: TeamCtx, hub: TeamHub,
                           ctx: Context) -> Response[SpacesDocument]:
        space = await space_service.create_space(ctx, hub, msgspec.structs.asdict(data.data.attributes))
        resource = team_space_resource(space, team.team_id)
        return jsonapi(SpacesDocument(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{space_id:str}", opt={"scope": "community:read"}, summary="Read a space")
    async def get_space(self, space_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                        ctx: Context) -> Response[SpacesDocument]:
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        return jsonapi(SpacesDocument(data=team_space_resource(space, team.team_id)))

    @patch("/{space_id:str}", opt={"scope": "community:write"},
           summary="Update a space (access changes reach members and live subscriptions at once)")
    async def update_space(self, space_id: FromPath[str], data: JSONBody[SpacesUpdateDocument],
                           team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[SpacesDocument]:
        check_document_id(data.data.id, space_id)
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        space = await space_service.update_space(ctx, hub, space, present(data.data.attributes))
        return jsonapi(SpacesDocument(data=team_space_resource(space, team.team_id)))

    @delete("/{space_id:str}", opt={"scope": "community:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a space (soft delete: it and its discussions are 404 at once)")
    async def delete_space(self, space_id: FromPath[str], team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        await space_service.delete_space(ctx, hub, space)

    @get("/{space_id:str}/members", opt={"scope": "community:read"}, summary="Who is in the space")
    async def list_members(self, request: Request[Any, Any, Any], space_id: FromPath[str], team: TeamCtx,
                           hub: TeamHub, ctx: Context) -> Response[SpaceMembersListDocument]:
        q = parse_list_query(request)
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        page = await space_service.list_space_members(ctx, space, q.page)
        return jsonapi(SpaceMembersListDocument.page(request, [space_member_resource(m) for m in page.items], page))

    @post("/{space_id:str}/members", opt={"scope": "community:write"},
          responses=existing_or_created(SpaceMembersDocument),
          summary="Add a hub member to the space (201 when new, 200 when already in)")
    async def add_member(self, space_id: FromPath[str], data: JSONBody[SpaceMembersCreateDocument],
                         team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[SpaceMembersDocument]:
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        row, created = await space_service.add_space_member(ctx, hub, space, parse_id(data.data.attributes.contact_id))
        return jsonapi(SpaceMembersDocument(data=space_member_resource(row)), 201 if created else 200)

    @delete("/{space_id:str}/members/{contact_id:str}", opt={"scope": "community:write"},
            status_code=HTTP_204_NO_CONTENT, summary="Take a member out of the space")
    async def remove_member(self, space_id: FromPath[str], contact_id: FromPath[str], team: TeamCtx,
                            hub: TeamHub, ctx: Context) -> None:
        space = await space_service.get_space(ctx, hub, parse_id(space_id))
        await space_service.remove_space_member(ctx, hub, space, parse_id(contact_id))


class MemberSpacesController(Controller):
    """``H/spaces``: the spaces a member may see, joining, leaving, muting and reading them. A
    space's discussions are in ``discussions.py``."""

    path = HUB_PATH + "/spaces"
    tags = ["community"]

    @get("/", opt={"access": "view"}, summary="The spaces I may see (private ones I may not enter: locked)")
    async def list_spaces(self, request: Request[Any, Any, Any], member: Member,
                          ctx: Context) -> Response[SpacesListDocument]:
        q = parse_list_query(request, allowed_filters=None, own_cursor=True)
        page = await space_service.member_spaces(ctx, member, q.page, q.after)
        return jsonapi(SpacesListDocument.page(request, [member_space_resource(v) for v in page.items], page))

    @get("/{space_id:str}", opt={"access": "view"}, summary="One space (404 when it is secret to me)")
    async def get_space(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.member_space(ctx, member, parse_id(space_id))
        return jsonapi(member_space_document(v))

    @post("/{space_id:str}/join", opt={"access": "view"}, status_code=200, summary="Join a space")
    async def join(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.join_space(ctx, member, parse_id(space_id))
        return jsonapi(member_space_document(v))

    @post("/{space_id:str}/leave", opt={"access": "view"}, status_code=200, summary="Leave a space")
    async def leave(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.leave_space(ctx, member, parse_id(space_id))
        return jsonapi(member_space_document(v))

    @post("/{space_id:str}/mute", opt={"access": "view"}, status_code=200, summary="Mute a joined space")
    async def mute(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.set_muted(ctx, member, parse_id(space_id), True)
        return jsonapi(member_space_document(v))

    @delete("/{space_id:str}/mute", opt={"access": "view"}, status_code=200, summary="Unmute a joined space")
    async def unmute(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.set_muted(ctx, member, parse_id(space_id), False)
        return jsonapi(member_space_document(v))

    @post("/{space_id:str}/read", opt={"access": "view"}, status_code=200,
          summary="Mark a joined space read (its unread count drops to 0)")
    async def read(self, space_id: FromPath[str], member: Member, ctx: Context) -> Response[SpacesDocument]:
        v = await space_service.mark_read(ctx, member, parse_id(space_id))
        return jsonapi(member_space_document(v))
