"""Staff identity and team API keys (plain JSON bodies, not JSON:API): the Structs and mappers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Request

from domain.identity import sessions
from domain.identity.api_keys import CreatedKey
from persistence.models import ApiKey, Team, User
from persistence.pagination import Page
from server.jsonapi import Links, PageMeta, next_link
from server.openapi import component, json_body

# ---- staff identity --------------------------------------------------------------------------------


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None

    # Registering creates a personal team named after first_name: a name too long for a team is
    # refused at the team's ``name`` (domain/teams/service.py), which this body does not hold. That
    # error has always pointed where a team document holds it; issue 10 changed no response.
    FIELD_POINTERS: ClassVar[dict[tuple[str | int, ...], str]] = {("name",): "/data/attributes/name"}


# Members have a RegisterBody and a MembershipOut too: each keeps its OpenAPI name
# (server.openapi.component).
StaffRegisterBody = Annotated[RegisterBody, json_body("auth_RegisterBody")]


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class LogoutBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str | None = None


class UserOut(msgspec.Struct):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    created_at: datetime


class TokensOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: UserOut


class MembershipOut(msgspec.Struct):
    team_id: str
    name: str
    slug: str


class MeOut(msgspec.Struct):
    user: UserOut
    teams: list[Annotated[MembershipOut, component("auth_MembershipOut")]]  # pinned: see StaffRegisterBody


def user_out(user: User) -> UserOut:
    return UserOut(str(user.id), user.email, user.first_name, user.last_name, user.created_at)


def me_out(user: User, teams: list[Team]) -> MeOut:
    return MeOut(user_out(user), [MembershipOut(str(t.id), t.name, t.slug) for t in teams])


def tokens_out(issued: sessions.IssuedTokens) -> TokensOut:
    return TokensOut(issued.access_token, "Bearer", issued.access_expires_at, issued.refresh_token,
                     issued.refresh_expires_at, user_out(issued.user))


# ---- team API keys ---------------------------------------------------------------------------------


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


def _key_fields(key: ApiKey) -> dict[str, Any]:
    return dict(
        id=str(key.id), name=key.name, key_prefix=key.key_prefix, scopes=list(key.scopes),
        created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at,
        last_used_at=key.last_used_at, created_by=str(key.created_by) if key.created_by else None,
    )


def api_key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(**_key_fields(key))


def api_key_created(created: CreatedKey) -> ApiKeyCreated:
    return ApiKeyCreated(**_key_fields(created.key), secret=created.secret)


def api_key_list(request: Request[Any, Any, Any], page: Page[ApiKey]) -> ApiKeyList:
    return ApiKeyList(data=[api_key_out(k) for k in page.items],
                      links=Links(self=str(request.url), next=next_link(request, page)),
                      meta=PageMeta(has_more=page.has_more))
