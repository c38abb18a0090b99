"""Teams and their staff members (JSON:API types ``teams`` and ``team_members``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.teams import service as teams
from persistence.ids import parse_id
from server.api.teams.dashboard import get_dashboard
from server.api.teams.schemas import (
    TeamMembersCreateDocument,
    TeamMembersDocument,
    TeamMembersListDocument,
    TeamsCreateDocument,
    TeamsDocument,
    TeamsListDocument,
    TeamsUpdateDocument,
    member_resource,
    team_resource,
)
from server.deps import Caller, Context, Staff, TeamCtx
from server.jsonapi import check_document_id, jsonapi, parse_list_query
from server.paths import TEAM_PATH


class TeamsController(Controller):
    """``/api/v1/teams``: the teams the caller belongs to (an API key sees its own team)."""

    path = "/api/v1/teams"
    tags = ["teams"]

    @get("/", summary="List my teams")
    async def list_teams(self, request: Request[Any, Any, Any], principal: Caller,
                         ctx: Context) -> Response[TeamsListDocument]:
        q = parse_list_query(request)
        page = await teams.list_teams(ctx, principal, q.page)
        roles = await teams.roles_of(ctx, principal, [t.id for t in page.items])
        return jsonapi(TeamsListDocument.page(request, [team_resource(t, roles.get(t.id)) for t in page.items], page))

    @post("/", summary="Create a team (the creator becomes its owner)")
    async def create_team(self, data: JSONBody[TeamsCreateDocument], staff: Staff,
                          ctx: Context) -> Response[TeamsDocument]:
        a = data.data.attributes
        team = await teams.create_team(ctx, owner_id=staff.user_id, name=a.name, slug=a.slug)
        return jsonapi(TeamsDocument(data=team_resource(team, "owner")), 201,
                       headers={"Location": f"/api/v1/teams/{team.id}"})


class TeamController(Controller):
    """One team and its staff members. Every handler takes ``team`` (404/403 checked)."""

    path = TEAM_PATH
    tags = ["teams"]

    @get("/", opt={"scope": "teams:read"}, summary="Read a team")
    async def get_team(self, team: TeamCtx) -> Response[TeamsDocument]:
        return jsonapi(TeamsDocument(data=team_resource(team.team, team.role)))

    @patch("/", opt={"scope": "teams:write"}, summary="Rename a team, change its slug or its payment provider")
    async def update_team(self, data: JSONBody[TeamsUpdateDocument], team: TeamCtx,
                          ctx: Context) -> Response[TeamsDocument]:
        check_document_id(data.data.id, team.team_id)
        a = data.data.attributes
        updated = await teams.update_team(
            ctx, team,
            name=None if a.name is msgspec.UNSET else a.name,
            slug=None if a.slug is msgspec.UNSET else a.slug,
            payment_provider=None if a.payment_provider is msgspec.UNSET else a.payment_provider,
        )
        return jsonapi(TeamsDocument(data=team_resource(updated, team.role)))

    @delete("/", opt={"scope": "teams:delete"}, status_code=HTTP_204_NO_CONTENT, summary="Delete a team (owner)")
    async def delete_team(self, team: TeamCtx, ctx: Context) -> None:
        await teams.delete_team(ctx, team)

    @get("/members", opt={"scope": "members:read"}, summary="List the team's staff members")
    async def list_members(self, request: Request[Any, Any, Any], team: TeamCtx,
                           ctx: Context) -> Response[TeamMembersListDocument]:
        q = parse_list_query(request)
        page = await teams.list_members(ctx, team, q.page)
        return jsonapi(TeamMembersListDocument.page(request, [member_resource(m) for m in page.items], page))

    @post("/members", opt={"scope": "members:write"}, summary="Add a staff user to the team by email")
    async def add_member(self, data: JSONBody[TeamMembersCreateDocument], team: TeamCtx,
                         ctx: Context) -> Response[TeamMembersDocument]:
        a = data.data.attributes
        member = await teams.add_member(ctx, team, email=a.email, role=a.role)
        return jsonapi(TeamMembersDocument(data=member_resource(member)), 201)

    @get("/members/{user_id:str}", opt={"scope": "members:read"}, summary="Read one staff member")
    async def get_member(self, user_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[TeamMembersDocument]:
        member = await teams.get_member(ctx, team, parse_id(user_id))
        return jsonapi(TeamMembersDocument(data=member_resource(member)))

    @delete("/members/{user_id:str}", opt={"scope": "members:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Remove a staff member (the last owner stays)")
    async def remove_member(self, user_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await teams.remove_member(ctx, team, parse_id(user_id))


ROUTES: list[Any] = [TeamsController, TeamController, get_dashboard]
