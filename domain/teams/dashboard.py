"""The team dashboard's counters: what a creator watches grow (contacts, members, hubs) and what
needs them (open reports). Read once over REST, then kept current from the ``team:{id}`` channel
by the events that move them (``contact.signed_up``, ``member.joined``, ``member.reported``,
``moderation.action``, ``order.paid``, ``order.refunded``, ``payment.succeeded``,
``payment.refunded``; docs/realtime.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from domain.context import Ctx
from domain.teams.service import TeamContext
from persistence.models import Hub, HubMembership, Order, Payment, Report, TeamContact

# An order counts once it was paid; a refunded one still did (its revenue is net of refunds).
PAID_STATUSES = ("paid", "refunded")


@dataclass(frozen=True)
class DashboardCounters:
    hubs: int  # hubs not deleted
    team_contacts: int  # team contacts not deleted
    hub_members: int  # memberships of those hubs that were not left (banned ones included)
    open_reports: int  # moderation queue entries still open, in those hubs
    orders_paid: int  # orders paid (refunded ones included): + 1 per ``order.paid``
    # the money received, net of refunds, per currency (minor units): every succeeded payment —
    # an order's own and a subscription's renewals — less what was refunded of it: + ``order.paid``'s
    # and ``payment.succeeded``'s ``amount``, - ``order.refunded``'s and ``payment.refunded``'s
    # (free and trial orders bring 0); a currency netting 0 is left out
    revenue: dict[str, int]


async def dashboard_counters(ctx: Ctx, team: TeamContext) -> DashboardCounters:
    """The team's counters now, in two queries (the counts, then the money per currency)."""
    live_hubs = sa.select(Hub.id).where(Hub.team_id == team.team_id, Hub.deleted_at.is_(None))
    row = (await ctx.uow.session.execute(sa.select(
        sa.select(sa.func.count()).select_from(live_hubs.subquery()).scalar_subquery(),
        sa.select(sa.func.count()).select_from(TeamContact).where(
            TeamContact.team_id == team.team_id, TeamContact.deleted_at.is_(None)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(HubMembership).where(
            HubMembership.team_id == team.team_id, HubMembership.status != "left",
            HubMembership.hub_id.in_(live_hubs)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Report).where(
            Report.status == "open", Report.hub_id.in_(live_hubs)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Order).where(
            Order.team_id == team.team_id, Order.status.in_(PAID_STATUSES)).scalar_subquery(),
    ))).one()
    money = (await ctx.uow.session.execute(
        sa.select(Payment.currency, sa.func.sum(Payment.amount - Payment.amount_refunded))
        .where(Payment.team_id == team.team_id, Payment.status == "succeeded").group_by(Payment.currency)
    )).all()
    return DashboardCounters(hubs=int(row[0]), team_contacts=int(row[1]), hub_members=int(row[2]),
                             open_reports=int(row[3]), orders_paid=int(row[4]),
                             revenue={currency: int(total) for currency, total in money if total})
