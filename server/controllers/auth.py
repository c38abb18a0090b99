"""Staff identity routes (plain JSON bodies): register, login, refresh, logout, me."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Optional

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.errors import RateLimited, Unauthenticated
from domain.identity import sessions
from domain.teams.service import list_teams
from persistence.models import User
from persistence.pagination import PageRequest
from server.deps import Staff, Uow, provide_optional_staff, services_of
from server.net import client_ip


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None


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
    teams: list[MembershipOut]


def user_out(user: User) -> UserOut:
    return UserOut(str(user.id), user.email, user.first_name, user.last_name, user.created_at)


def tokens_out(issued: sessions.IssuedTokens) -> TokensOut:
    return TokensOut(issued.access_token, "Bearer", issued.access_expires_at, issued.refresh_token,
                     issued.refresh_expires_at, user_out(issued.user))


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["staff identity"]

    @post("/register", status_code=HTTP_201_CREATED, summary="Create a staff account and its personal team")
    async def register(self, data: JSONBody[RegisterBody], request: Request[Any, Any, Any], state: State,
                       uow: Uow) -> TokensOut:
        svc = services_of(state)
        await _limit(svc, f"register:ip:{client_ip(request, svc.settings)}", svc.settings.login_limit_per_ip)
        issued = await sessions.register_user(
            uow, svc.auth, email=data.email, password=data.password, first_name=data.first_name,
            last_name=data.last_name, ip=client_ip(request, svc.settings),
            user_agent=request.headers.get("user-agent"),
        )
        return tokens_out(issued)

    @post("/login", status_code=200, summary="Exchange email and password for tokens (rate limited)")
    async def login(self, data: JSONBody[LoginBody], request: Request[Any, Any, Any], state: State,
                    uow: Uow) -> TokensOut:
        svc = services_of(state)
        s = svc.settings
        ip = client_ip(request, s)
        email_key = "login:email:" + hashlib.sha256(data.email.strip().lower().encode()).hexdigest()[:32]
        # Every attempt counts against the IP; only failures count against the email, so a
        # stranger hammering someone's address locks it for the window but the owner's earlier
        # successful logins are not what trips it.
        await _limit(svc, f"login:ip:{ip}", s.login_limit_per_ip)
        verdict = await svc.limiter.peek(email_key, s.login_limit_per_email, s.login_limit_window_seconds)
        if not verdict.allowed:
            raise RateLimited("Too many failed logins for this email; try again later.",
                              retry_after=verdict.retry_after)
        try:
            issued = await sessions.login(uow, svc.auth, email=data.email, password=data.password, ip=ip,
                                          user_agent=request.headers.get("user-agent"))
        except Unauthenticated:
            await svc.limiter.hit(email_key, s.login_limit_per_email, s.login_limit_window_seconds)
            raise
        await svc.limiter.reset(email_key)
        return tokens_out(issued)

    @post("/refresh", status_code=200,
          summary="Rotate a refresh token; reuse revokes the session (after a short grace for concurrent refreshes)")
    async def refresh(self, data: JSONBody[RefreshBody], state: State, uow: Uow) -> TokensOut:
        return tokens_out(await sessions.refresh(uow, services_of(state).auth, refresh_token=data.refresh_token))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End the session: its tokens stop working")
    async def logout(self, request: Request[Any, Any, Any], state: State, uow: Uow,
                     data: JSONBody[Optional[LogoutBody]] = None) -> None:
        svc = services_of(state)
        refresh_token = data.refresh_token if data else None
        staff = None
        try:
            staff = await provide_optional_staff(request, state, uow)
        except Unauthenticated:
            # An expired access token must not keep a client from ending its session with the
            # refresh token it still holds.
            if not refresh_token:
                raise
        await sessions.logout(uow, svc.auth, staff, refresh_token=refresh_token)

    @get("/me", summary="The logged-in staff user and their teams")
    async def me(self, staff: Staff, uow: Uow) -> MeOut:
        user = await uow.session.get(User, staff.user_id)
        assert user is not None  # authenticate_access_token just loaded it
        page = await list_teams(uow, staff, PageRequest(size=100))
        return MeOut(user_out(user), [MembershipOut(str(t.id), t.name, t.slug) for t in page.items])


async def _limit(svc: Any, key: str, limit: int) -> None:
    verdict = await svc.limiter.hit(key, limit, svc.settings.login_limit_window_seconds)
    if not verdict.allowed:
        raise RateLimited("Too many attempts from this address; try again later.", retry_after=verdict.retry_after)
