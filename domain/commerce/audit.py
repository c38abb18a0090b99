"""The billing audit trail: who changed money or access through billing, and why.

Every money-changing action writes one ``billing_audit_log`` row in the same transaction as the
change (so a rolled-back action leaves no trace and a committed one always has its row): an order
marked paid, failed or expired, a refund asked for or seen at the provider, a subscription canceled
or resumed. ``BillingActor`` says who: staff (a user), an API key, the member themself, the
payment provider (a webhook), or the system (a background job, a free checkout).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from domain.context import Ctx
from domain.identity.principals import ApiKeyPrincipal, StaffPrincipal
from domain.teams.service import TeamContext
from persistence.models import BillingAuditEntry

ActorType = Literal["staff", "api_key", "member", "provider", "system"]


@dataclass(frozen=True)
class BillingActor:
    """Who acts on an order, payment or subscription: kept on each audit row."""

    actor_type: ActorType
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None

    @classmethod
    def provider(cls) -> BillingActor:
        """The payment provider, through one of its events."""
        return cls("provider")

    @classmethod
    def system(cls) -> BillingActor:
        """Hubwire itself: a free checkout, a background job."""
        return cls("system")

    @classmethod
    def member(cls, contact_id: uuid.UUID) -> BillingActor:
        return cls("member", contact_id=contact_id)

    @classmethod
    def of_team(cls, team: TeamContext) -> BillingActor:
        """The staff user or API key acting through ``team``."""
        p = team.principal
        if isinstance(p, ApiKeyPrincipal):
            return cls("api_key", api_key_id=p.key_id)
        return cls("staff", user_id=p.user_id if isinstance(p, StaffPrincipal) else None)


async def record_billing_action(ctx: Ctx, actor: BillingActor, *, team_id: uuid.UUID, hub_id: uuid.UUID | None,
                                action: str, target_type: str, target_id: uuid.UUID, amount: int | None = None,
                                currency: str | None = None, reason: str | None = None,
                                data: dict[str, Any] | None = None) -> BillingAuditEntry:
    """Write one audit row (``action`` such as ``order.paid``, ``refund.created``) in the caller's
    transaction."""
    entry = BillingAuditEntry(
        team_id=team_id, hub_id=hub_id, actor_type=actor.actor_type, actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id, actor_contact_id=actor.contact_id, action=action,
        target_type=target_type, target_id=target_id, amount=amount, currency=currency,
        reason=reason[:500] if reason else None, data=data or {}, created_at=ctx.now())
    ctx.uow.session.add(entry)
    await ctx.uow.session.flush()
    return entry
