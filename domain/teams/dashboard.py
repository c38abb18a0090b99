"""The team dashboard's counters: what a creator watches grow (contacts, members, hubs) and what
needs them (open reports). Read once over REST, then kept current from the ``team:{id}`` channel
by the events that move them (``contact.signed_up``, ``member.joined``, ``member.reported``,
``moderation.action``, ``order.paid``, ``order.refunded``; docs/realtime.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from domain.context import Ctx
from domain.teams.service import TeamContext
from persistence.models import Hub, HubMembership, Order, Report, TeamContact

# An order counts once it was paid; a refunded one still did (its revenue is net of refunds).
PAID_STATUSES = ("paid", "refunded")


@dataclass(frozen=True)
class DashboardCounters:
    hubs: int  # hubs not deleted
    team_contacts: int  # team contacts not deleted
    hub_members: int  # memberships of those hubs that were not left (banned ones included)
    open_reports: int  # moderation queue entries still open, in those hubs
    orders_paid: int  # orders paid (refunded ones included): + 1 per ``order.paid``
    # what paid orders brought, net of refunds, per currency (minor units): + ``order.paid``'s
    # ``amount``, - ``order.refunded``'s (free and trial orders bring 0; a subscription's renewals
    # are not orders: not counted here); a currency netting 0 is left out
    revenue: dict[str, int]


async def dashboard_counters(ctx: Ctx, team: TeamContext) -> DashboardCounters:
    """The team's counters now, in one query."""
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
    ))).one()
    money = (await ctx.uow.session.execute(
        sa.select(Order.currency, sa.func.count(), sa.func.sum(sa.case(
            (Order.payment_status == "paid", Order.amount_total - Order.amount_refunded), else_=0)))
        .where(Order.team_id == team.team_id, Order.status.in_(PAID_STATUSES)).group_by(Order.currency)
    )).all()
    return DashboardCounters(hubs=int(row[0]), team_contacts=int(row[1]), hub_members=int(row[2]),
                             open_reports=int(row[3]), orders_paid=sum(int(n) for _, n, _ in money),
                             revenue={currency: int(total) for currency, _, total in money if total})
