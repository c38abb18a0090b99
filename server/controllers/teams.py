"""Teams and their staff members (JSON:API types ``teams`` and ``team_members``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.ids import parse_id
from domain.teams import service as teams
from domain.teams.service import Member
from server.deps import Caller, Staff, TeamCtx, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_list_query, resource_types
from server.paths import TEAM_PATH


class TeamAttributes(msgspec.Struct):
    name: str
    slug: str
    is_personal: bool
    role: str | None
    created_at: datetime
    updated_at: datetime


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    slug: str | None = None


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    slug: str | msgspec.UnsetType = msgspec.UNSET


TEAMS = resource_types("teams", TeamAttributes, TeamCreate, TeamUpdate)


class MemberAttributes(msgspec.Struct):
    user_id: str
    email: str
    first_name: str | None
    last_name: str | None
    role: str
    joined_at: datetime


class MemberCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    role: str = "staff"


MEMBERS = resource_types("team_members", MemberAttributes, MemberCreate)


def team_resource(team: TeamCtx, role: str | None) -> Any:
    attrs = TeamAttributes(team.name, team.slug, team.is_personal, role, team.created_at, team.updated_at)
    return TEAMS.resource(team.id, attrs, self_link=f"/api/v1/teams/{team.id}")


def member_resource(m: Member) -> Any:
    attrs = MemberAttributes(str(m.user.id), m.user.email, m.user.first_name, m.user.last_name, m.role, m.joined_at)
    return MEMBERS.resource(m.user.id, attrs, self_link=f"/api/v1/teams/{m.team_id}/members/{m.user.id}")


class TeamsController(Controller):
    """``/api/v1/teams``: the teams the caller belongs to (an API key sees its own team)."""

    path = "/api/v1/teams"
    tags = ["teams"]

    @get("/", summary="List my teams")
    async def list_teams(self, request: Request[Any, Any, Any], principal: Caller,
                         uow: Uow) -> Response[TEAMS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await teams.list_teams(uow, principal, q.page)
        roles = await teams.roles_of(uow, principal, [t.id for t in page.items])
        return jsonapi(TEAMS.list_document(request, [team_resource(t, roles.get(t.id)) for t in page.items], page))

    @post("/", summary="Create a team (the creator becomes its owner)")
    async def create_team(self, data: JSONBody[TEAMS.CreateDocument], state: State, staff: Staff,  # type: ignore[name-defined]
                          uow: Uow) -> Response[TEAMS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        team = await teams.create_team(uow, services_of(state).clock, owner_id=staff.user_id, name=a.name, slug=a.slug)
        return jsonapi(TEAMS.Document(data=team_resource(team, "owner")), 201,
                       headers={"Location": f"/api/v1/teams/{team.id}"})


class TeamController(Controller):
    """One team and its staff members. Every handler takes ``team`` (404/403 checked)."""

    path = TEAM_PATH
    tags = ["teams"]

    @get("/", opt={"scope": "teams:read"}, summary="Read a team")
    async def get_team(self, team: TeamCtx) -> Response[TEAMS.Document]:  # type: ignore[name-defined]
        return jsonapi(TEAMS.Document(data=team_resource(team.team, team.role)))

    @patch("/", opt={"scope": "teams:write"}, summary="Rename a team or change its slug")
    async def update_team(self, data: JSONBody[TEAMS.UpdateDocument], team: TeamCtx, state: State,  # type: ignore[name-defined]
                          uow: Uow) -> Response[TEAMS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, team.team_id)
        a = data.data.attributes
        updated = await teams.update_team(
            uow, services_of(state).clock, team,
            name=None if a.name is msgspec.UNSET else a.name,
            slug=None if a.slug is msgspec.UNSET else a.slug,
        )
        return jsonapi(TEAMS.Document(data=team_resource(updated, team.role)))

    @delete("/", opt={"scope": "teams:delete"}, status_code=HTTP_204_NO_CONTENT, summary="Delete a team (owner)")
    async def delete_team(self, team: TeamCtx, state: State, uow: Uow) -> None:
        await teams.delete_team(uow, services_of(state).clock, team)

    @get("/members", opt={"scope": "members:read"}, summary="List the team's staff members")
    async def list_members(self, request: Request[Any, Any, Any], team: TeamCtx,
                           uow: Uow) -> Response[MEMBERS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await teams.list_members(uow, team, q.page)
        return jsonapi(MEMBERS.list_document(request, [member_resource(m) for m in page.items], page))

    @post("/members", opt={"scope": "members:write"}, summary="Add a staff user to the team by email")
    async def add_member(self, data: JSONBody[MEMBERS.CreateDocument], team: TeamCtx, state: State,  # type: ignore[name-defined]
                         uow: Uow) -> Response[MEMBERS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        member = await teams.add_member(uow, services_of(state).clock, team, email=a.email, role=a.role)
        return jsonapi(MEMBERS.Document(data=member_resource(member)), 201)

    @get("/members/{user_id:str}", opt={"scope": "members:read"}, summary="Read one staff member")
    async def get_member(self, user_id: FromPath[str], team: TeamCtx, uow: Uow) -> Response[MEMBERS.Document]:  # type: ignore[name-defined]
        member = await teams.get_member(uow, team, parse_id(user_id))
        return jsonapi(MEMBERS.Document(data=member_resource(member)))

    @delete("/members/{user_id:str}", opt={"scope": "members:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Remove a staff member (the last owner stays)")
    async def remove_member(self, user_id: FromPath[str], team: TeamCtx, uow: Uow) -> None:
        await teams.remove_member(uow, team, parse_id(user_id))
