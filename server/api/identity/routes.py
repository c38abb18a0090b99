"""Staff identity routes (plain JSON bodies): register, login, refresh, logout, me; and the team's
API keys, whose secret is in the create response and nowhere else, ever."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.errors import RateLimited, Unauthenticated
from domain.filters import parse_bool_filter
from domain.identity import api_keys, sessions
from domain.teams.service import list_teams
from persistence.ids import parse_id
from persistence.models import User
from persistence.pagination import PageRequest
from server.api.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    LoginBody,
    LogoutBody,
    MeOut,
    RefreshBody,
    StaffRegisterBody,
    TokensOut,
    api_key_created,
    api_key_list,
    api_key_out,
    me_out,
    tokens_out,
)
from server.deps import Context, Staff, TeamCtx, provide_optional_staff, services_of
from server.jsonapi import parse_list_query
from server.net import client_ip
from server.paths import TEAM_PATH


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["staff identity"]

    @post("/register", status_code=HTTP_201_CREATED, summary="Create a staff account and its personal team")
    async def register(self, data: StaffRegisterBody, request: Request[Any, Any, Any], state: State,
                       ctx: Context) -> TokensOut:
        svc = services_of(state)
        await _limit(svc, f"register:ip:{client_ip(request, svc.settings)}", svc.settings.login_limit_per_ip)
        issued = await sessions.register_user(
            ctx, email=data.email, password=data.password, first_name=data.first_name, last_name=data.last_name,
            ip=client_ip(request, svc.settings), user_agent=request.headers.get("user-agent"), auth=svc.auth,
        )
        return tokens_out(issued)

    @post("/login", status_code=200, summary="Exchange email and password for tokens (rate limited)")
    async def login(self, data: JSONBody[LoginBody], request: Request[Any, Any, Any], state: State,
                    ctx: Context) -> TokensOut:
        svc = services_of(state)
        s = svc.settings
        ip = client_ip(request, s)
        email_key = "login:email:" + hashlib.sha256(data.email.strip().lower().encode()).hexdigest()[:32]
        # Every attempt counts against the IP; only failures count against the email, so a
        # stranger hammering someone's address locks it for the window but the owner's earlier
        # successful logins are not what trips it.
        await _limit(svc, f"login:ip:{ip}", s.login_limit_per_ip)
        user_agent = request.headers.get("user-agent")
        verdict = await svc.limiter.peek(email_key, s.login_limit_per_email, s.login_limit_window_seconds)
        locked = None
        if not verdict.allowed:
            locked = RateLimited("Too many failed logins for this email; try again later.",
                                 retry_after=verdict.retry_after)
            # Whoever failed (perhaps a stranger), the owner's own device, one that signed in
            # before from this address, still gets in with the right password; no one else does.
            if not await sessions.is_known_device(ctx, email=data.email, ip=ip, user_agent=user_agent):
                raise locked
        try:
            issued = await sessions.login(ctx, email=data.email, password=data.password, ip=ip,
                                          user_agent=user_agent, auth=svc.auth)
        except Unauthenticated:
            await svc.limiter.hit(email_key, s.login_limit_per_email, s.login_limit_window_seconds)
            if locked is not None:
                raise locked from None  # still locked: the same answer as any other attempt now
            raise
        if locked is None:  # a lock stays for everyone else until its window ends
            await svc.limiter.reset(email_key)
        return tokens_out(issued)

    @post("/refresh", status_code=200,
          summary="Rotate a refresh token; reuse revokes the session (after a short grace for concurrent refreshes)")
    async def refresh(self, data: JSONBody[RefreshBody], state: State, ctx: Context) -> TokensOut:
        return tokens_out(await sessions.refresh(ctx, refresh_token=data.refresh_token, auth=services_of(state).auth))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End the session: its tokens stop working")
    async def logout(self, request: Request[Any, Any, Any], state: State, ctx: Context,
                     data: JSONBody[Optional[LogoutBody]] = None) -> None:
        refresh_token = data.refresh_token if data else None
        staff = None
        try:
            staff = await provide_optional_staff(request, state, ctx)
        except Unauthenticated:
            # An expired access token must not keep a client from ending its session with the
            # refresh token it still holds.
            if not refresh_token:
                raise
        await sessions.logout(ctx, staff, refresh_token=refresh_token)

    @get("/me", summary="The logged-in staff user and their teams")
    async def me(self, staff: Staff, ctx: Context) -> MeOut:
        user = await ctx.uow.session.get(User, staff.user_id)
        assert user is not None  # authenticate_access_token just loaded it
        page = await list_teams(ctx, staff, PageRequest(size=100))
        return me_out(user, page.items)


async def _limit(svc: Any, key: str, limit: int) -> None:
    verdict = await svc.limiter.hit(key, limit, svc.settings.login_limit_window_seconds)
    if not verdict.allowed:
        raise RateLimited("Too many attempts from this address; try again later.", retry_after=verdict.retry_after)


class ApiKeysController(Controller):
    path = TEAM_PATH + "/api-keys"
    tags = ["api keys"]

    @get("/", opt={"scope": "api_keys:read"}, summary="List the team's API keys (never their secrets)")
    async def list_keys(self, request: Request[Any, Any, Any], team: TeamCtx, ctx: Context) -> ApiKeyList:
        q = parse_list_query(request, frozenset({"revoked"}))
        page = await api_keys.list_api_keys(ctx, team, q.page, revoked=parse_bool_filter(q.filters, "revoked"))
        return api_key_list(request, page)

    @post("/", opt={"scope": "api_keys:write"}, summary="Create an API key; the secret is returned once")
    async def create_key(self, data: JSONBody[ApiKeyCreate], team: TeamCtx, ctx: Context) -> ApiKeyCreated:
        created = await api_keys.create_api_key(ctx, team, name=data.name, scopes=data.scopes,
                                                expires_at=data.expires_at)
        return api_key_created(created)

    @get("/{key_id:str}", opt={"scope": "api_keys:read"}, summary="Read one API key")
    async def get_key(self, key_id: FromPath[str], team: TeamCtx, ctx: Context) -> ApiKeyOut:
        return api_key_out(await api_keys.get_api_key(ctx, team, parse_id(key_id)))

    @delete("/{key_id:str}", opt={"scope": "api_keys:write"}, status_code=200,
            summary="Revoke an API key; effective immediately")
    async def revoke_key(self, key_id: FromPath[str], team: TeamCtx, ctx: Context) -> ApiKeyOut:
        key = await api_keys.revoke_api_key(ctx, team, parse_id(key_id))
        return api_key_out(key)


ROUTES: list[Any] = [AuthController, ApiKeysController]
