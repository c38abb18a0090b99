"""Team API keys (plain JSON): the secret is in the create response and nowhere else, ever."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from domain.identity import api_keys
from domain.ids import parse_id
from persistence.models import ApiKey
from server.controllers.teams import TEAM_PATH
from server.deps import TeamCtx, Uow, services_of
from server.jsonapi import (
    Links,
    PageMeta,
    next_link,
    parse_bool_filter,
    parse_list_query,
)


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    scopes: list[str] | None = None
    expires_at: datetime | None = None


class ApiKeyOut(msgspec.Struct):
    id: str
    name: str
    key_prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None


class ApiKeyCreated(ApiKeyOut):
    secret: str  # shown once


class ApiKeyList(msgspec.Struct):
    data: list[ApiKeyOut]
    links: Links
    meta: PageMeta


def _fields(key: ApiKey) -> dict[str, Any]:
    return dict(
        id=str(key.id), name=key.name, key_prefix=key.key_prefix, scopes=list(key.scopes),
        created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at,
        last_used_at=key.last_used_at, created_by=str(key.created_by) if key.created_by else None,
    )


class ApiKeysController(Controller):
    path = TEAM_PATH + "/api-keys"
    tags = ["api keys"]

    @get("/", opt={"scope": "api_keys:read"}, summary="List the team's API keys (never their secrets)")
    async def list_keys(self, request: Request[Any, Any, Any], team: TeamCtx, uow: Uow) -> ApiKeyList:
        q = parse_list_query(request, frozenset({"revoked"}))
        page = await api_keys.list_api_keys(uow, team, q.page, revoked=parse_bool_filter(q.filters, "revoked"))
        return ApiKeyList(
            data=[ApiKeyOut(**_fields(k)) for k in page.items],
            links=Links(self=str(request.url), next=next_link(request, page)),
            meta=PageMeta(has_more=page.has_more),
        )

    @post("/", opt={"scope": "api_keys:write"}, summary="Create an API key; the secret is returned once")
    async def create_key(self, data: JSONBody[ApiKeyCreate], team: TeamCtx, state: State, uow: Uow) -> ApiKeyCreated:
        created = await api_keys.create_api_key(uow, services_of(state).clock, team, name=data.name,
                                                scopes=data.scopes, expires_at=data.expires_at)
        return ApiKeyCreated(**_fields(created.key), secret=created.secret)

    @get("/{key_id:str}", opt={"scope": "api_keys:read"}, summary="Read one API key")
    async def get_key(self, key_id: FromPath[str], team: TeamCtx, uow: Uow) -> ApiKeyOut:
        return ApiKeyOut(**_fields(await api_keys.get_api_key(uow, team, parse_id(key_id))))

    @delete("/{key_id:str}", opt={"scope": "api_keys:write"}, status_code=200,
            summary="Revoke an API key; effective immediately")
    async def revoke_key(self, key_id: FromPath[str], team: TeamCtx, state: State, uow: Uow) -> ApiKeyOut:
        key = await api_keys.revoke_api_key(uow, services_of(state).clock, team, parse_id(key_id))
        return ApiKeyOut(**_fields(key))
