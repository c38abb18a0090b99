"""The route prefixes every controller builds on (docs/api.md's ``T`` and ``H``)."""

from __future__ import annotations

TEAM_PATH = "/api/v1/teams/{team_id:str}"  # T: team side, staff tokens and API keys
TEAM_HUB_PATH = TEAM_PATH + "/hubs/{hub_id:str}"  # T/hubs/{hub_id}
HUB_PATH = "/api/v1/hub/{hub_id:str}"  # H: member side, member tokens
WEBHOOKS_PATH = "/api/v1/webhooks"  # inbound provider webhooks: each route declares how it authenticates
