"""A hub of a staff user's team and its memberships over the API: adding members, moderation
actions and member tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.api import Staff, doc, unique_email, w


class Hub:
    def __init__(self, team_id: str, hub_id: str) -> None:
        self.team_id, self.id = team_id, hub_id

    @property
    def url(self) -> str:
        return f"/api/v1/teams/{self.team_id}/hubs/{self.id}"

    def m(self, contact_id: str = "", suffix: str = "") -> str:
        return f"{self.url}/memberships" + (f"/{contact_id}" if contact_id else "") + suffix


@dataclass
class StaffHub:
    """A staff user and a hub of their team, with the paths tests build on: ``t`` the team's, ``h``
    the member side's, ``wh`` the staff's write headers (catalog's Shop, content's Studio)."""

    staff: Staff
    hub: Hub

    @property
    def t(self) -> str:
        return f"/api/v1/teams/{self.staff.team_id}"

    @property
    def h(self) -> str:
        return f"/api/v1/hub/{self.hub.id}"

    @property
    def wh(self) -> dict[str, str]:
        return w(self.staff.headers)


async def new_hub(client: Any, staff: Staff, team_id: str | None = None) -> Hub:
    team_id = team_id or staff.team_id
    r = await client.post(f"/api/v1/teams/{team_id}/hubs", json=doc("hubs", {"name": f"Hub {uuid.uuid4().hex[:6]}"}),
                          headers=w(staff.headers))
    assert r.status_code == 201, r.text
    return Hub(team_id, r.json()["data"]["id"])


async def add(client: Any, headers: dict[str, str], hub: Hub, **attrs: Any) -> Any:
    return await client.post(hub.m(), json=doc("hub_memberships", attrs), headers=w(headers))


async def join(client: Any, staff: Staff, hub: Hub, email: str | None = None, **attrs: Any) -> dict[str, Any]:
    r = await add(client, staff.headers, hub, email=email or unique_email("member"), **attrs)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


async def act(client: Any, headers: dict[str, str], hub: Hub, contact_id: str, action: str, **attrs: Any) -> Any:
    attrs.setdefault("reason", f"{action} for a test")
    return await client.post(hub.m(contact_id, f"/{action}"), json=doc("membership_actions", attrs), headers=w(headers))


async def mint(client: Any, headers: dict[str, str], hub: Hub, contact_id: str) -> Any:
    return await client.post(f"{hub.url}/member-tokens", json=doc("member_tokens", {"contact_id": contact_id}),
                             headers=w(headers))
