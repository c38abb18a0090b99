"""Route: the team dashboard's counters (``GET T/dashboard``, scope ``dashboard:read``), and where
the team's channel stood when they were read, so that a client subscribing with that ``since``
and ``epoch`` applies every later event and misses none (docs/api.md#team-dashboard)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from domain.events.channels import team_channel
from domain.teams.dashboard import dashboard_counters
from server.api.realtime.transports import gateway_of
from server.api.teams.dashboard_schemas import DashboardCountersDocument, dashboard_document
from server.deps import Context, TeamCtx
from server.jsonapi import jsonapi
from server.paths import TEAM_PATH


@get(TEAM_PATH + "/dashboard", opt={"scope": "dashboard:read"}, tags=["teams"],
     summary="The dashboard's counters, with the team channel's seq and epoch to subscribe from")
async def get_dashboard(team: TeamCtx, ctx: Context, state: State) -> Response[DashboardCountersDocument]:
    channel = team_channel(team.team_id)
    # The channel's position first, then the counters: an event committed after this point is
    # either in the counters and replayed (rarely, in the instant between the two reads) or only
    # replayed; none is missed.
    position = await gateway_of(state).history.replay(channel)
    counters = await dashboard_counters(ctx, team)
    return jsonapi(dashboard_document(team.team_id, counters, channel, position.seq, position.epoch))
