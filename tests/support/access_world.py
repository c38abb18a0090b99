"""A hub with one member, for the access tests that go through the app: the world, rows written as
the domain functions write them (with facts_changed), and the member's access check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from domain.access.invalidation import facts_changed
from persistence.models import AccessRule, ContentNode
from tests.support.api import Staff, bearer, doc, register, unique_email, w
from tests.support.app import in_app
from tests.support.hubs import Hub, join, mint, new_hub

NOW = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)  # entitlements run from here


def uid() -> uuid.UUID:
    return uuid.uuid4()


@dataclass
class World:
    staff: Staff
    hub: Hub
    contact_id: str
    team_contact_id: str
    headers: dict[str, str]

    @property
    def team(self) -> str:
        return f"/api/v1/teams/{self.staff.team_id}"

    @property
    def hub_uuid(self) -> uuid.UUID:
        return uuid.UUID(self.hub.id)

    @property
    def contact_uuid(self) -> uuid.UUID:
        return uuid.UUID(self.contact_id)


async def make_world(client: Any) -> World:
    staff = await register(client, "access")
    hub = await new_hub(client, staff)
    email = unique_email("member")
    member = await join(client, staff, hub, email=email)
    contact_id = member["attributes"]["contact_id"]
    r = await client.get(f"/api/v1/teams/{staff.team_id}/contacts", params={"filter[email]": email},
                         headers=staff.headers)
    assert r.status_code == 200, r.text
    token = (await mint(client, staff.headers, hub, contact_id)).json()["data"]["attributes"]["access_token"]
    return World(staff, hub, contact_id, r.json()["data"][0]["id"], bearer(token))


async def set_policy(client: Any, world: World, policy_type: str, content: str, require: bool) -> None:
    r = await client.patch(f"{world.hub.url}/policies",
                           json=doc("policies", {"policy_type": policy_type, "content": content,
                                                 "require_acceptance": require}),
                           headers=w(world.staff.headers))
    assert r.status_code in (200, 201), r.text


def write(client: Any, app: Any, *rows: Any, changed: dict[str, Any] | None = None) -> None:
    """Insert ``rows`` (and call facts_changed, as the domain functions do) in one unit of work."""

    async def go() -> None:
        async with app.state.services.uow() as uow:
            for row in rows:
                uow.session.add(row)
                await uow.session.flush()
            if changed is not None:
                facts_changed(uow, **changed)

    in_app(client, go)


def rule(world: World, target_type: str, target_id: uuid.UUID, conditions: list[tuple[str, dict[str, Any]]],
         logic: str = "all") -> AccessRule:
    return AccessRule(id=uid(), hub_id=world.hub_uuid, target_type=target_type, target_id=target_id,
                      logic_operator=logic, conditions=[{"condition_type": t, "condition_data": d} for t, d in conditions],
                      created_at=NOW, updated_at=NOW)


def node(world: World, parent: uuid.UUID | None = None, deleted: bool = False) -> ContentNode:
    return ContentNode(id=uid(), hub_id=world.hub_uuid, parent_id=parent, title="node", node_type="lesson",
                       position=0, created_at=NOW, updated_at=NOW, deleted_at=NOW if deleted else None)


async def check(client: Any, world: World, target_type: str, target_id: Any, action: str = "view") -> Any:
    return await client.get(f"/api/v1/hub/{world.hub.id}/access/check",
                            params={"target_type": target_type, "target_id": str(target_id), "action": action},
                            headers=world.headers)
