"""Members of a hub.

- Magic-link login (plain JSON bodies): ``register`` emails a link, ``verify`` exchanges its
  one-time token for a member token.
- Self-service in a hub (``H/me``): the member's membership, profile, notification preferences and
  policy acceptances. Every handler takes ``member`` (a member token for this hub) with
  ``access: self``: reachable while the hub's policies are not yet accepted, never by banned members.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from domain.errors import RateLimited, ValidationFailed
from domain.members import login
from domain.members import profile as self_service
from persistence.ids import parse_id
from server.api.members.schemas import (
    AcceptedOut,
    MemberRegisterBody,
    MembersDocument,
    MembersUpdateDocument,
    MemberTokenOut,
    PolicyAcceptancesCreateDocument,
    PolicyAcceptancesDocument,
    VerifyBody,
    acceptance_document,
    given,
    me_document,
    member_token_out,
)
from server.deps import Context, Member, services_of
from server.jsonapi import check_document_id, jsonapi
from server.net import client_ip
from server.openapi import existing_or_created
from server.paths import HUB_PATH
from server.services import Services


class ContactAuthController(Controller):
    path = "/api/v1/contact-auth"
    tags = ["member login"]

    @post("/register", status_code=HTTP_202_ACCEPTED,
          summary="Email a one-time sign-in link for a hub (always 202: no probing of hubs or emails)")
    async def register(self, data: MemberRegisterBody, request: Request[Any, Any, Any], state: State,
                       ctx: Context) -> AcceptedOut:
        svc = services_of(state)
        s = svc.settings
        hub_id = parse_id(data.hub_id)
        if hub_id is None:
            raise ValidationFailed("hub_id must be a hub id.", code="invalid_value", pointer="/hub_id")
        email_key = "magic:email:" + hashlib.sha256(data.email.strip().lower().encode()).hexdigest()[:32]
        await _limit(svc, f"magic:ip:{client_ip(request, s)}", s.login_limit_per_ip)
        await _limit(svc, email_key, s.login_limit_per_email)
        await login.request_magic_link(ctx, email=data.email, hub_id=hub_id, redirect_url=data.redirect_url,
                                       public_url=s.public_url, mail_from=s.mail_from)
        return AcceptedOut("accepted")

    @post("/verify", status_code=200, summary="Exchange a magic-link token (single use, 15 minutes) for a member token")
    async def verify(self, data: JSONBody[VerifyBody], request: Request[Any, Any, Any], state: State,
                     ctx: Context) -> MemberTokenOut:
        svc = services_of(state)
        await _limit(svc, f"magic-verify:ip:{client_ip(request, svc.settings)}", svc.settings.login_limit_per_ip)
        return member_token_out(await login.verify_magic_link(ctx, data.token, tokens=svc.auth.tokens))


async def _limit(svc: Services, key: str, limit: int) -> None:
    verdict = await svc.limiter.hit(key, limit, svc.settings.login_limit_window_seconds)
    if not verdict.allowed:
        raise RateLimited("Too many sign-in requests; try again later.", retry_after=verdict.retry_after)


class MeController(Controller):
    path = HUB_PATH + "/me"
    tags = ["member self-service"]

    @get("/", opt={"access": "self"}, summary="My membership of this hub: profile, notification preferences, policies")
    async def get_me(self, member: Member, ctx: Context) -> Response[MembersDocument]:
        view = await self_service.member_view(ctx, member)
        return jsonapi(me_document(view, member.hub_id))

    @patch("/", opt={"access": "self"}, summary="Update my profile and notification preferences (merged: absent fields keep their values)")
    async def update_me(self, data: JSONBody[MembersUpdateDocument], member: Member,
                        ctx: Context) -> Response[MembersDocument]:
        check_document_id(data.data.id, member.contact_id)
        a = data.data.attributes
        view = await self_service.update_me(ctx, member, profile=given(a.profile),
                                            notification_preferences=given(a.notification_preferences))
        return jsonapi(me_document(view, member.hub_id))

    @post("/accept-policies", opt={"access": "self"}, responses=existing_or_created(PolicyAcceptancesDocument),
          summary="Accept the current version of one of the hub's policies (201; 200 when accepted already)")
    async def accept_policies(self, data: JSONBody[PolicyAcceptancesCreateDocument], member: Member,
                              ctx: Context) -> Response[PolicyAcceptancesDocument]:
        a = data.data.attributes
        acceptance, created = await self_service.accept_policy(ctx, member, policy_type=a.policy_type,
                                                               version=a.version)
        return jsonapi(acceptance_document(acceptance), 201 if created else 200)


ROUTES: list[Any] = [ContactAuthController, MeController]
