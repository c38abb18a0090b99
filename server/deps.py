"""Per-request dependencies: the unit of work, the caller, the team context, list queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any, Optional

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from domain.access import service as access_service
from domain.access.facts import ACTIONS, Subject
from domain.access.service import refuse_unless_allowed
from domain.context import Ctx
from domain.errors import Forbidden, Unauthenticated
from domain.hubs.service import get_hub
from domain.identity import api_keys, sessions
from domain.identity.api_keys import KEY_PREFIX
from domain.identity.members import MemberPrincipal, authenticate_member
from domain.identity.principals import Principal, StaffPrincipal
from domain.teams.service import TeamContext, resolve_team
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import Hub
from server.services import Services


def services_of(state: State) -> Services:
    return state.services  # type: ignore[no-any-return]


async def provide_uow(state: State) -> AsyncGenerator[UnitOfWork, None]:
    """One transaction per request: committed before the response is sent, rolled back on error."""
    async with services_of(state).uow() as uow:
        yield uow


async def provide_ctx(state: State, uow: NamedDependency[UnitOfWork]) -> Ctx:
    """The use cases' collaborators for this request: its unit of work, the clock, the access
    facts cache and the rate limiter (domain/context.py)."""
    return services_of(state).ctx(uow)


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send `Authorization: Bearer <token>`.", code="invalid_authorization_header")
    return token.strip()


async def provide_principal(request: Request[Any, Any, Any], state: State, ctx: Context) -> Principal:
    """The authenticated caller: a staff session token or a team API key. 401 otherwise."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("This route needs an access token or an API key.")
    if token.startswith(KEY_PREFIX):
        return await api_keys.authenticate_api_key(ctx, token)
    return await sessions.authenticate_access_token(ctx, token, tokens=services_of(state).auth.tokens)


async def provide_optional_staff(request: Request[Any, Any, Any], state: State,
                                 ctx: Context) -> StaffPrincipal | None:
    token = bearer_token(request)
    if token is None:
        return None
    if token.startswith(KEY_PREFIX):
        raise Forbidden("API keys cannot be used here.", code="staff_only")
    return await sessions.authenticate_access_token(ctx, token, tokens=services_of(state).auth.tokens)


async def provide_staff(principal: NamedDependency[Principal]) -> StaffPrincipal:
    if not isinstance(principal, StaffPrincipal):
        raise Forbidden("Only a staff user can do this, not an API key.", code="staff_only")
    return principal


async def provide_team(request: Request[Any, Any, Any], principal: NamedDependency[Principal],
                       ctx: Context) -> TeamContext:
    """The team in the path, seen by the caller, with the route's scope checked (404 / 403)."""
    scope = request.route_handler.opt.get("scope")
    if not scope:  # create_app refuses to start with such a route; this is the last line
        raise Forbidden("This route declares no permission.", code="forbidden")
    return await resolve_team(ctx, principal, _path_id(request, "team_id"), scope)


async def provide_team_hub(request: Request[Any, Any, Any], team: NamedDependency[TeamContext],
                           ctx: Context) -> Hub:
    """The hub in a ``T/hubs/{hub_id}`` path, inside the caller's team (404 otherwise)."""
    return await get_hub(ctx, team, _path_id(request, "hub_id"))


async def provide_member(request: Request[Any, Any, Any], state: State,
                         ctx: Context) -> MemberPrincipal:
    """The member acting in the hub of an ``H/...`` path, let through by the access evaluator.

    First a member token for this hub with a membership that is not banned or left (staff and
    API-key tokens never act as a member). Then the route's ``opt["access"]``: an action (``view``,
    ``post``, ...) is asked of the evaluator on the hub — a denial is a 403 whose code is the
    decision's reason (404 when hidden); ``self`` (H/me, accepting policies) stops after the
    membership check, so a member can still read and accept the policies that lock them out."""
    access = request.route_handler.opt.get("access")
    if access not in MEMBER_ACCESS:  # create_app refuses to start with such a route; this is the last line
        raise Forbidden("This route declares no access check.", code="forbidden")
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("This route needs a member token.", code="unauthenticated")
    if token.startswith(KEY_PREFIX):
        raise Unauthenticated("API keys cannot act as a member.", code="member_token_required")
    member = await authenticate_member(ctx, token, _path_id(request, "hub_id"), tokens=services_of(state).auth.tokens)
    if access != "self":
        decision = await access_service.check(ctx, Subject.member(member.contact_id), access, "hub", member.hub_id,
                                              member.hub_id)
        refuse_unless_allowed(decision)
    return member


MEMBER_ACCESS = frozenset({"self", *ACTIONS})
# A member route a guest may call too: it takes ``optional_member`` instead of ``member``.
GUEST_ACCESS = "guest"

async def provide_optional_member(request: Request[Any, Any, Any], state: State,
                                  ctx: Context) -> MemberPrincipal | None:
    """The member of an ``H/...`` route a guest may also call (``opt={"access": "guest"}``:
    checkout, where a guest gives an email instead): None without a bearer token; with one, the
    member as ``self`` checks them (a token for this hub, a membership not banned or left)."""
    if request.route_handler.opt.get("access") != GUEST_ACCESS:
        raise Forbidden("This route declares no access check.", code="forbidden")
    token = bearer_token(request)
    if token is None:
        return None
    if token.startswith(KEY_PREFIX):
        raise Unauthenticated("API keys cannot act as a member.", code="member_token_required")
    return await authenticate_member(ctx, token, _path_id(request, "hub_id"), tokens=services_of(state).auth.tokens)


def _path_id(request: Request[Any, Any, Any], name: str) -> uuid.UUID | None:
    raw = request.path_params.get(name)
    return raw if isinstance(raw, uuid.UUID) else parse_id(str(raw))


DEPENDENCIES = {
    "uow": Provide(provide_uow),
    "ctx": Provide(provide_ctx),
    "principal": Provide(provide_principal),
    "staff": Provide(provide_staff),
    "optional_staff": Provide(provide_optional_staff),
    "team": Provide(provide_team),
    "hub": Provide(provide_team_hub),
    "member": Provide(provide_member),
    "optional_member": Provide(provide_optional_member),
}

# Handlers name what they need with these (Litestar wants injected parameters marked explicitly).
Uow = NamedDependency[UnitOfWork]
# Built here from the app's own parts: nothing to validate (and validating would make msgspec resolve
# Ctx's annotations, whose FactsCache domain/context.py imports only for type checkers).
Context = NamedDependency[SkipValidation[Ctx]]
Caller = NamedDependency[Principal]
Staff = NamedDependency[StaffPrincipal]
OptionalStaff = NamedDependency[Optional[StaffPrincipal]]
TeamCtx = NamedDependency[TeamContext]
TeamHub = NamedDependency[Hub]
Member = NamedDependency[MemberPrincipal]
OptionalMember = NamedDependency[Optional[MemberPrincipal]]
