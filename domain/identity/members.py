"""Member (contact) tokens: a contact acting inside one hub.

A member token is a JWT of type ``member`` naming the contact and the hub. It never works on team
routes, and staff or API-key tokens never act as a member. The membership is checked on every
request, so a ban takes effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from domain.context import Ctx
from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.identity.principals import Principal
from domain.identity.tokens import TokenService
from persistence.models import Hub, HubMembership

MEMBER_TOKEN_TTL = timedelta(days=7)


@dataclass(frozen=True)
class MemberPrincipal(Principal):
    contact_id: uuid.UUID
    hub_id: uuid.UUID
    team_id: uuid.UUID
    membership_id: uuid.UUID
    role: str
    status: str


def issue_member_token(tokens: TokenService, *, contact_id: uuid.UUID, hub_id: uuid.UUID,
                       ttl: timedelta = MEMBER_TOKEN_TTL) -> tuple[str, datetime]:
    return tokens.issue(subject=contact_id, kind="member", ttl=ttl, hub=str(hub_id))


# Built once (its cache key is kept with it): every member request runs it.
_MEMBERSHIP = (sa.select(HubMembership, Hub.deleted_at).join(Hub, Hub.id == HubMembership.hub_id)
               .where(HubMembership.hub_id == sa.bindparam("hub_id"),
                      HubMembership.contact_id == sa.bindparam("contact_id")))


async def authenticate_member(ctx: Ctx, token: str, hub_id: uuid.UUID | None, *,
                              tokens: TokenService) -> MemberPrincipal:
    """The member behind ``token`` (decoded by ``tokens``) in the hub of the path, as of ``ctx.now()``.

    401 for a bad/expired token or a staff/API-key token; 404 when the token is for another hub or
    the hub is gone (no probing of hubs); 403 ``banned`` for a banned member; 403 ``not_a_member``
    when the membership was left or removed.
    """
    claims = tokens.decode(token)
    if claims.kind != "member":
        raise Unauthenticated("This route needs a member token.", code="member_token_required")
    token_hub = claims.extra.get("hub")
    if hub_id is None or token_hub != str(hub_id):
        raise NotFound("Hub not found.")
    row = (await ctx.uow.session.execute(_MEMBERSHIP, {"hub_id": hub_id, "contact_id": claims.subject})).first()
    if row is None or row[1] is not None:
        raise NotFound("Hub not found.")
    membership: HubMembership = row[0]
    status = effective_status(membership, ctx.now())
    if status == "banned":
        raise Forbidden("You are banned from this hub.", code="banned",
                        meta={"reason": membership.status_reason,
                              "expires_at": membership.status_expires_at.isoformat()
                              if membership.status_expires_at else None})
    if status == "left":
        raise Forbidden("You are no longer a member of this hub.", code="not_a_member")
    return MemberPrincipal(
        contact_id=membership.contact_id, hub_id=membership.hub_id, team_id=membership.team_id,
        membership_id=membership.id, role=membership.role, status=status,
    )


def effective_status(membership: HubMembership, now: datetime) -> str:
    """A ban or soft-ban with an expiry ends at that exact second."""
    if (membership.status in ("banned", "soft_banned") and membership.status_expires_at is not None
            and now >= membership.status_expires_at):
        return "active"
    return membership.status
