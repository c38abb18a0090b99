"""Teams and their staff members: JSON:API types ``teams`` and ``team_members``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from domain.teams.service import Member
from persistence.models import Team
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

# ---- teams ----------------------------------------------------------------------------------------


class TeamAttributes(msgspec.Struct):
    name: str
    slug: str
    is_personal: bool
    role: str | None
    created_at: datetime
    updated_at: datetime
    payment_provider: str  # how paid checkouts are paid: manual (the default) or stripe


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    slug: str | None = None


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    slug: str | msgspec.UnsetType = msgspec.UNSET
    payment_provider: str | msgspec.UnsetType = msgspec.UNSET


class TeamsResource(Resource):
    type: Literal["teams"]
    attributes: TeamAttributes


class TeamsDocument(Document):
    data: TeamsResource


class TeamsListDocument(ListDocument):
    data: list[TeamsResource]


class TeamsCreateData(CreateData):
    type: Literal["teams"]
    attributes: TeamCreate


class TeamsCreateDocument(Inbound):
    data: TeamsCreateData


class TeamsUpdateData(UpdateData):
    type: Literal["teams"]
    attributes: TeamUpdate


class TeamsUpdateDocument(Inbound):
    data: TeamsUpdateData


def team_resource(team: Team, role: str | None) -> TeamsResource:
    attrs = TeamAttributes(team.name, team.slug, team.is_personal, role, team.created_at, team.updated_at,
                           team.payment_provider)
    return TeamsResource.of(team.id, attrs, self_link=f"/api/v1/teams/{team.id}")


# ---- staff members ----------------------------------------------------------------------------------


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


class TeamMembersResource(Resource):
    type: Literal["team_members"]
    attributes: MemberAttributes


class TeamMembersDocument(Document):
    data: TeamMembersResource


class TeamMembersListDocument(ListDocument):
    data: list[TeamMembersResource]


class TeamMembersCreateData(CreateData):
    type: Literal["team_members"]
    attributes: MemberCreate


class TeamMembersCreateDocument(Inbound):
    data: TeamMembersCreateData


def member_resource(m: Member) -> TeamMembersResource:
    attrs = MemberAttributes(str(m.user.id), m.user.email, m.user.first_name, m.user.last_name, m.role, m.joined_at)
    return TeamMembersResource.of(m.user.id, attrs, self_link=f"/api/v1/teams/{m.team_id}/members/{m.user.id}")
