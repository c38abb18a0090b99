"""The team dashboard's counters (``dashboard_counters``, id = the team id), with the position of
the team's channel they were read at."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.teams.dashboard import DashboardCounters
from server.jsonapi import Document, Resource


class DashboardCountersAttributes(msgspec.Struct, kw_only=True):
    hubs: int
    team_contacts: int
    hub_members: int
    open_reports: int
    orders_paid: int
    revenue: dict[str, int]  # per currency, minor units, net of refunds
    # subscribe to `channel` with since=seq and epoch: every event after this read arrives
    channel: str
    seq: int
    epoch: str


class DashboardCountersResource(Resource):
    type: Literal["dashboard_counters"]
    attributes: DashboardCountersAttributes


class DashboardCountersDocument(Document):
    data: DashboardCountersResource


def dashboard_document(team_id: Any, c: DashboardCounters, channel: str, seq: int,
                       epoch: str) -> DashboardCountersDocument:
    attrs = DashboardCountersAttributes(hubs=c.hubs, team_contacts=c.team_contacts, hub_members=c.hub_members,
                                        open_reports=c.open_reports, orders_paid=c.orders_paid,
                                        revenue=c.revenue, channel=channel, seq=seq, epoch=epoch)
    return DashboardCountersDocument(data=DashboardCountersResource.of(
        team_id, attrs, self_link=f"/api/v1/teams/{team_id}/dashboard"))
