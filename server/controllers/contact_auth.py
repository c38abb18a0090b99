"""Member login by magic link (plain JSON bodies): ``register`` emails a link, ``verify`` exchanges
its one-time token for a member token."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from domain.errors import RateLimited, ValidationFailed
from domain.ids import parse_id
from domain.members import login
from persistence.models import HubMembership
from server.deps import Uow, services_of
from server.net import client_ip
from server.services import Services


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    hub_id: str
    redirect_url: str | None = None


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class AcceptedOut(msgspec.Struct):
    status: str


class ContactOut(msgspec.Struct):
    id: str
    email: str


class MembershipOut(msgspec.Struct):
    id: str
    role: str
    status: str
    joined_at: datetime
    onboarding: dict[str, Any]


class MemberTokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime
    contact: ContactOut
    hub_id: str
    membership: MembershipOut


def membership_out(m: HubMembership) -> MembershipOut:
    return MembershipOut(str(m.id), m.role, m.status, m.joined_at, dict(m.onboarding or {}))


class ContactAuthController(Controller):
    path = "/api/v1/contact-auth"
    tags = ["member login"]

    @post("/register", status_code=HTTP_202_ACCEPTED,
          summary="Email a one-time sign-in link for a hub (always 202: no probing of hubs or emails)")
    async def register(self, data: JSONBody[RegisterBody], request: Request[Any, Any, Any], state: State,
                       uow: Uow) -> AcceptedOut:
        svc = services_of(state)
        s = svc.settings
        hub_id = parse_id(data.hub_id)
        if hub_id is None:
            raise ValidationFailed("hub_id must be a hub id.", code="invalid_value", pointer="/hub_id")
        email_key = "magic:email:" + hashlib.sha256(data.email.strip().lower().encode()).hexdigest()[:32]
        await _limit(svc, f"magic:ip:{client_ip(request, s)}", s.login_limit_per_ip)
        await _limit(svc, email_key, s.login_limit_per_email)
        await login.request_magic_link(uow, svc.clock, email=data.email, hub_id=hub_id,
                                       redirect_url=data.redirect_url, public_url=s.public_url,
                                       mail_from=s.mail_from)
        return AcceptedOut("accepted")

    @post("/verify", status_code=200, summary="Exchange a magic-link token (single use, 15 minutes) for a member token")
    async def verify(self, data: JSONBody[VerifyBody], request: Request[Any, Any, Any], state: State,
                     uow: Uow) -> MemberTokenOut:
        svc = services_of(state)
        await _limit(svc, f"magic-verify:ip:{client_ip(request, svc.settings)}", svc.settings.login_limit_per_ip)
        result = await login.verify_magic_link(uow, svc.clock, svc.auth.tokens, data.token)
        return MemberTokenOut(
            access_token=result.access_token, token_type="Bearer", expires_at=result.expires_at,
            contact=ContactOut(str(result.contact.id), result.contact.email), hub_id=str(result.hub.id),
            membership=membership_out(result.membership),
        )


async def _limit(svc: Services, key: str, limit: int) -> None:
    verdict = await svc.limiter.hit(key, limit, svc.settings.login_limit_window_seconds)
    if not verdict.allowed:
        raise RateLimited("Too many sign-in requests; try again later.", retry_after=verdict.retry_after)


ROUTES: list[Any] = [ContactAuthController]
